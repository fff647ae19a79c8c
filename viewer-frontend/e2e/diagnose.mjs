// Browser tests of what a reading doctor relies on (issue 15): tools that keep working after any switch,
// a magnifier that magnifies, W/L that follows the image's data range, a CBF map that reads correctly
// (colour bar, unit, black background, middle slice), and an overlay menu of real maps placed by geometry.
// A real `cirrus serve`, the Siemens 3D pCASL study from ../shared/data over STOW-RS plus the derived
// series our own `cirrus quant` makes from it, Debian's chromium through playwright-core.
// Prints `e2e-diagnose: N passed, M failed`; screenshots go to <repo>/test-artifacts/e2e/.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium } from 'playwright-core';
import { ARTIFACTS, PYTHON, SERVER_DIR, assert, runner } from './harness.mjs';
import { CHROMIUM, CHROMIUM_ARGS, SHARED_DATA, listFiles, signIn, startServer, stowFiles } from './server.mjs';

const STUDY = 'asl/siemens/pcasl3d';
const only = process.argv[2];

const { test, fail, finish } = runner({ only });

const server = await startServer();
let browser;
const work = mkdtempSync(join(tmpdir(), 'cirrus-diag-'));
try {
  const source = listFiles(join(SHARED_DATA, STUDY));
  execFileSync(PYTHON, ['-m', 'server.cli', 'quant', join(SHARED_DATA, STUDY), '--out', work, '--no-regions'], { cwd: SERVER_DIR, stdio: 'ignore', env: { ...process.env, PYTHONPATH: SERVER_DIR } });
  const derived = listFiles(work).filter((f) => f.endsWith('.dcm'));
  const loaded = await stowFiles(server, [...source, ...derived]);
  assert(loaded.failed === 0 && loaded.stored === source.length + derived.length, `STOW: ${JSON.stringify(loaded)} of ${source.length}+${derived.length}`);
  const [study] = await (await server.fetch('/dicom-web/studies')).json();
  const studyUid = study['0020000D'].Value[0];
  const series = await (await server.fetch(`/dicom-web/studies/${studyUid}/series?includefield=0008103E&includefield=00080008`)).json();
  const byType = (type) => series.find((s) => (s['00080008']?.Value ?? []).join('\\') === type)?.['0020000E'].Value[0];
  const cbfUid = byType('DERIVED\\SECONDARY\\CBF');
  const sourceUid = series.find((s) => (s['00080008']?.Value ?? [])[0] === 'ORIGINAL')?.['0020000E'].Value[0];
  assert(cbfUid && sourceUid, `series: ${JSON.stringify(series.map((s) => s['0008103E']?.Value))}`);

  browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS });
  const context = await browser.newContext({ viewport: { width: 1440, height: 900 }, locale: 'en-US' });
  const page = await context.newPage();
  await signIn(page, server);
  const pageErrors = [];
  page.on('pageerror', (e) => pageErrors.push(e.message));

  async function open(seriesUid, extra = '') {
    await page.goto(`${server.base}/viewer/${studyUid}?series=${seriesUid}${extra}`);
    await page.waitForFunction(() => window.__cirrus?.firstImageAt > 0 && window.__cirrus.tools, null, { timeout: 20000 });
    await page.waitForTimeout(300);
  }
  async function box() {
    return page.locator('.vp-element').first().boundingBox();
  }
  async function drag(from, to, button = 'left') {
    await page.mouse.move(from[0], from[1]);
    await page.mouse.down({ button });
    for (let i = 1; i <= 8; i += 1) await page.mouse.move(from[0] + ((to[0] - from[0]) * i) / 8, from[1] + ((to[1] - from[1]) * i) / 8);
    await page.mouse.up({ button });
    await page.waitForTimeout(150);
  }

  await test('after zoom and pan, the length tool measures (right value in mm)', async () => {
    await open(cbfUid);
    const b = await box();
    const c = [b.x + b.width / 2, b.y + b.height / 2];
    await page.click('[data-tool=zoom]');
    await drag(c, [c[0], c[1] - 60]);
    await page.click('[data-tool=pan]');
    await drag(c, [c[0] + 30, c[1] + 20]);
    const scale = await page.evaluate(() => window.__cirrus.viewport().getCamera().parallelScale);
    await page.click('[data-tool=length]');
    const from = [c[0] - 80, c[1]];
    const to = [c[0] + 70, c[1] + 40];
    await drag(from, to);
    const got = await page.evaluate(
      ([f, t, origin]) => {
        const vp = window.__cirrus.viewport();
        const lengths = window.__cirrus.tools.annotation.state.getAllAnnotations().filter((a) => a.metadata.toolName === 'Length');
        const w = (p) => vp.canvasToWorld([p[0] - origin[0], p[1] - origin[1]]);
        const [a, z] = [w(f), w(t)];
        const expected = Math.hypot(a[0] - z[0], a[1] - z[1], a[2] - z[2]);
        const stats = lengths.map((l) => Object.values(l.data.cachedStats ?? {})[0]?.length);
        return { count: lengths.length, stats, expected, scale: vp.getCamera().parallelScale };
      },
      [from, to, [b.x, b.y]],
    );
    await page.screenshot({ path: join(ARTIFACTS, 'd01-zoom-pan-length.png') });
    assert(got.scale === scale, `the length drag changed the camera (${scale} → ${got.scale}): zoom or pan kept the left button`);
    assert(got.count === 1, `expected one length measurement, found ${got.count}`);
    assert(Math.abs(got.stats[0] - got.expected) < 0.5, `length ${got.stats[0]} mm, expected ${got.expected.toFixed(2)} mm`);
  });


  /** Pearson correlation of the lens (2×2-averaged) with the viewport's pixels around the cursor. */
  await test('the magnifier shows the neighbourhood under the cursor at twice its size (pixels compared)', async () => {
    await open(cbfUid);
    const b = await box();
    const at = [Math.round(b.x + b.width / 2 + 20), Math.round(b.y + b.height / 2 - 10)];
    await page.click('[data-tool=magnify]');
    await page.mouse.move(at[0], at[1]);
    await page.mouse.down();
    await page.waitForFunction(() => {
      const c = document.querySelector('canvas.cirrus-lens');
      if (!c || !c.width) return false;
      const d = c.getContext('2d')?.getImageData(0, 0, c.width, c.height).data;
      return d && d.some((v, i) => i % 4 !== 3 && v > 20);
    }, null, { timeout: 10000 });
    await page.waitForTimeout(300);
    const got = await page.evaluate(([x, y, ox, oy]) => {
      const vp = window.__cirrus.viewport();
      const local = [x - ox, y - oy];
      const lc = document.querySelector('canvas.cirrus-lens');
      const lb = lc.getBoundingClientRect();
      const centre = [lb.x + lb.width / 2 - x, lb.y + lb.height / 2 - y];
      // Pixels: the lens averaged 2×2 against the viewport's canvas around the cursor.
      const main = vp.getCanvas();
      const dpr = main.width / main.clientWidth;
      const n = Math.floor(lc.width / 2);
      const md = main.getContext('2d').getImageData(Math.round(local[0] * dpr - n / 2), Math.round(local[1] * dpr - n / 2), n, n).data;
      const ld = lc.getContext('2d').getImageData(0, 0, lc.width, lc.height).data;
      const a = [];
      const m = [];
      for (let j = 0; j < n; j += 1) {
        for (let i = 0; i < n; i += 1) {
          let s = 0;
          for (const [di, dj] of [[0, 0], [1, 0], [0, 1], [1, 1]]) {
            const k = ((2 * j + dj) * lc.width + 2 * i + di) * 4;
            s += ld[k] + ld[k + 1] + ld[k + 2];
          }
          a.push(s / 4);
          const q = (j * n + i) * 4;
          m.push(md[q] + md[q + 1] + md[q + 2]);
        }
      }
      const mean = (v) => v.reduce((x, y) => x + y, 0) / v.length;
      const [ma, mm] = [mean(a), mean(m)];
      let sab = 0, saa = 0, smm = 0;
      for (let k = 0; k < a.length; k += 1) {
        sab += (a[k] - ma) * (m[k] - mm);
        saa += (a[k] - ma) ** 2;
        smm += (m[k] - mm) ** 2;
      }
      return { offset: Math.hypot(centre[0], centre[1]), r: sab / Math.sqrt(saa * smm || 1), lensPx: lb.width };
    }, [at[0], at[1], b.x, b.y]);
    await page.screenshot({ path: join(ARTIFACTS, 'd02-magnifier.png') });
    await page.mouse.up();
    assert(got.offset < 2, `lens centred ${got.offset.toFixed(1)} px away from the cursor`);
    assert(got.r > 0.8, `lens pixels do not match the neighbourhood under the cursor (r = ${got.r.toFixed(2)})`);
  });

  await test('W/L drag on a CBF map moves the window by a bounded amount; presets in ml/100g/min', async () => {
    await open(cbfUid);
    const b = await box();
    const c = [b.x + b.width / 2, b.y + b.height / 2];
    await page.click('[data-tool=wl]');
    const width = () => page.evaluate(() => {
      const r = window.__cirrus.viewport().getProperties().voiRange;
      return r.upper - r.lower;
    });
    const w0 = await width();
    await drag(c, [c[0] + 10, c[1]]);
    const w10 = await width();
    await drag(c, [c[0] + 80, c[1]]);
    const w90 = await width();
    assert(w10 !== w0, `a 10 px drag did not change the width (${w0})`);
    assert(Math.abs(w10 - w0) <= 10, `a 10 px drag moved the width from ${w0.toFixed(1)} to ${w10.toFixed(1)}`);
    assert(Math.abs(w90 - w0) <= 60, `a 90 px drag moved the width from ${w0.toFixed(1)} to ${w90.toFixed(1)}`);
    const options = await page.$$eval('[data-testid=preset] option', (os) => os.map((o) => o.textContent));
    assert(options.some((o) => o.includes('0–80 ml/100g/min')) && options.some((o) => o.includes('0–100 ml/100g/min')), `CBF presets: ${options}`);
    assert(!options.some((o) => /Lung|Bone|Abdomen/.test(o)), `CT presets offered for a CBF map: ${options}`);
    await page.selectOption('[data-testid=preset]', 'cbf80');
    const r = await page.evaluate(() => window.__cirrus.viewport().getProperties().voiRange);
    assert(r.lower === 0 && r.upper === 80, `0–80 preset gave ${JSON.stringify(r)}`);
    assert((await page.textContent('[data-testid=colour-bar-top]')).trim() === '80', 'the colour bar does not follow the window');
    // The raw ASL series (MR): an automatic window from the histogram, no Hounsfield windows.
    await open(sourceUid);
    const mr = await page.$$eval('[data-testid=preset] option', (os) => os.map((o) => o.value));
    assert(mr.includes('auto') && !mr.includes('lung'), `MR presets: ${mr}`);
  });

  await test('a CBF map opened alone: middle slice, colour bar with unit, black background, perfusion palette', async () => {
    for (const locale of ['en', 'zh-CN']) {
      await page.goto(`${server.base}/`);
      await page.selectOption('[data-testid=locale]', locale);
      await open(cbfUid);
      const state = await page.evaluate(() => {
        const vp = window.__cirrus.viewport();
        const n = vp.getImageIds().length;
        const c = vp.getCanvas();
        const px = c.getContext('2d').getImageData(3, 3, 1, 1).data;
        // Just inside the image's own corner (the map's background outside the brain).
        const image = vp.getImageData();
        const corner = vp.worldToCanvas(image.origin).map((v) => v * (c.width / c.clientWidth));
        const ipx = c.getContext('2d').getImageData(Math.round(corner[0]) + 3, Math.round(corner[1]) + 3, 1, 1).data;
        return { index: vp.getCurrentImageIdIndex(), n, colormap: vp.getProperties().colormap?.name, corner: [...px.slice(0, 3)], imageCorner: [...ipx.slice(0, 3)] };
      });
      await page.screenshot({ path: join(ARTIFACTS, `d03-cbf-alone-${locale}.png`) });
      assert(state.index === Math.floor(state.n / 2), `opened on slice ${state.index + 1} of ${state.n}, not the middle`);
      assert(state.colormap === 'cirrus-perfusion', `colour map ${state.colormap}`);
      assert(state.imageCorner.every((v) => v < 16), `map background is not black: rgb ${state.imageCorner}`);
      assert(state.corner.every((v) => v < 16), `viewport background is not black: rgb ${state.corner}`);
      const unit = await page.textContent('[data-testid=colour-bar-unit]');
      assert(unit.includes('ml/100g/min'), `colour bar unit: ${unit}`);
    }
    await page.selectOption('[data-testid=locale]', 'en');
  });

  await test('the overlay menu offers only the maps; no overlay is placed on the Siemens mosaic', async () => {
    await open(sourceUid);
    const scUid = series.find((s) => s['0008103E']?.Value?.[0]?.includes('colour'))?.['0020000E'].Value[0];
    await page.waitForFunction(() => document.querySelectorAll('[data-testid=overlay] option').length > 1, null, { timeout: 10000 });
    const offered = await page.$$eval('[data-testid=overlay] option', (os) => os.map((o) => o.value).filter(Boolean));
    assert(offered[0] === cbfUid, `first overlay choice ${offered[0]}, the CBF series is ${cbfUid}`);
    assert(!offered.includes(sourceUid) && !offered.includes(scUid), `raw or colour series offered: ${offered}`);
    assert(offered.length === 2, `expected the CBF series and the Parametric Map, got ${offered.length}`);
    await page.selectOption('[data-testid=overlay]', cbfUid);
    await page.waitForSelector('[data-testid=overlay-refused]', { timeout: 5000 });
    const drawn = await page.evaluate(() => {
      const c = document.querySelector('canvas.parametric-overlay');
      if (!c || !c.width) return 0;
      return c.getContext('2d').getImageData(0, 0, c.width, c.height).data.filter((v, i) => i % 4 === 3 && v > 0).length;
    });
    await page.screenshot({ path: join(ARTIFACTS, 'd04-overlay-mosaic.png') });
    assert(drawn === 0, `the map was drawn over the mosaic (${drawn} px)`);
  });

  await test('analysis queue (zh-CN, Shanghai): local time with its zone; a refused parameter is told inside the dialog', async () => {
    // The detector waits for a quiet period after the upload; "analyse this study" runs it now.
    const analysed = await server.fetch(`/api/studies/${studyUid}/analyse`, { method: 'POST' });
    assert(analysed.status < 300, `analyse answered ${analysed.status}: ${await analysed.text()}`);
    const jobs = (await (await server.fetch('/api/jobs')).json()).jobs;
    const job = jobs.find((j) => j.study_instance_uid === studyUid);
    assert(job, `no analysis job for the study: ${JSON.stringify(jobs.map((j) => j.state))}`);
    const zh = await browser.newContext({ viewport: { width: 1440, height: 900 }, locale: 'zh-CN', timezoneId: 'Asia/Shanghai' });
    try {
      const p = await zh.newPage();
      await signIn(p, server);
      await p.goto(`${server.base}/analysis`);
      const row = p.locator(`tr[data-job-id="${job.id}"]`);
      await row.waitFor({ timeout: 15000 });
      const shown = (await row.locator('[data-testid=job-updated]').textContent()).trim();
      // The server's UTC time, eight hours on, with the zone named.
      const utc = new Date(/(Z|[+-]\d\d:?\d\d)$/.test(job.updated_at) ? job.updated_at : `${job.updated_at}Z`);
      const local = new Date(utc.getTime() + 8 * 3600 * 1000).toISOString().slice(0, 19).replace('T', ' ');
      const fresh = (await (await server.fetch(`/api/jobs/${job.id}`)).json()).updated_at;
      const freshLocal = new Date(new Date(/(Z|[+-]\d\d:?\d\d)$/.test(fresh) ? fresh : `${fresh}Z`).getTime() + 8 * 3600 * 1000).toISOString().slice(0, 19).replace('T', ' ');
      assert([`${local} GMT+8`, `${freshLocal} GMT+8`].includes(shown), `queue shows "${shown}" for ${job.updated_at} (expected ${local} GMT+8)`);
      assert(await row.locator('[data-action=params]').count(), `the job (${job.state}) offers no parameters dialog: ${job.actions}`);
      await row.locator('[data-action=params]').click();
      const dlg = p.locator('[data-testid=params-dialog]');
      await dlg.waitFor({ timeout: 10000 });
      // 1800 typed as seconds (the unit chosen beside it): refused, not rescaled.
      await dlg.locator('select[name=pld-unit]').selectOption('s');
      await dlg.locator('input[name=pld]').fill('1800');
      await dlg.locator('button[type=submit]').click();
      await dlg.locator('[data-testid=params-error]').waitFor({ timeout: 10000 });
      const said = await dlg.locator('[data-testid=params-error]').textContent();
      const behind = await p.locator('.page > p.error').count();
      await p.screenshot({ path: join(ARTIFACTS, 'd05-params-error-zh.png') });
      assert(/pld|post|标记后延迟|延迟/i.test(said), `the dialog's error does not name the parameter: ${said}`);
      assert(behind === 0, 'the error is (also) shown on the page behind the dialog');
      assert(await dlg.isVisible(), 'the dialog closed on a refused value');
    } finally {
      await zh.close();
    }
  });

  if (pageErrors.length) console.log(`  page errors seen: ${[...new Set(pageErrors)].join(' | ')}`);
} catch (e) {
  fail('setup', e);
} finally {
  await browser?.close();
  await server.stop();
  rmSync(work, { recursive: true, force: true });
}

finish('e2e-diagnose');
