// Browser test of the DCE-MRI result in the viewer (issue 19): a synthetic DCE study made at test time from
// the forward model (tests/quant/dce/builders.py) goes over STOW-RS into a real `cirrus serve` with one
// worker; the DCE job is queued on arrival and fitted; "Open result" in the analysis queue opens the
// dynamic series with the Ktrans overlay and the ROI curve panel, whose curve and map values are checked,
// in English and in Chinese, signed in as the admin. Then ROIs are drawn with the mouse (rectangle and
// freehand tools) on the dynamic series: each drawing's curve and values must be the server's on that
// ROI, and a drawn arterial region becomes the job's measured AIF (recorded and shown). Prints `e2e-dce: N passed, M failed`; screenshots go to <repo>/test-artifacts/e2e/.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium } from 'playwright-core';
import { ARTIFACTS, PYTHON, SERVER_DIR, assert, runner } from './harness.mjs';
import { CHROMIUM, CHROMIUM_ARGS, listFiles, signIn, startServer, stowFiles } from './server.mjs';

const { test, fail, finish } = runner();

// The phantom: 3 slices of 40×40, Ktrans by quadrant (q3, lower left: 0.2 /min, ve 0.4).
const MAKE_STUDY = `
import sys
from tests.quant.dce.builders import dce_study, phantom
p = phantom(shape=(3, 40, 40), n_phases=30, dt=4.0, injection_phase=5)
for i, ds in enumerate(dce_study(p, "siemens")):
    ds.save_as(f"{sys.argv[1]}/{i:05d}.dcm", enforce_file_format=True)
`;

const server = await startServer({ workers: 1 });
let browser;
const work = mkdtempSync(join(tmpdir(), 'cirrus-dce-'));
try {
  execFileSync(PYTHON, ['-c', MAKE_STUDY, work], { cwd: SERVER_DIR, stdio: 'inherit', env: { ...process.env, PYTHONPATH: SERVER_DIR } });
  const files = listFiles(work);
  const loaded = await stowFiles(server, files);
  assert(loaded.failed === 0 && loaded.stored === files.length, `STOW: ${JSON.stringify(loaded)} of ${files.length}`);

  let job;
  const deadline = Date.now() + 180000;
  while (Date.now() < deadline) {
    const page = await (await server.fetch('/api/jobs')).json();
    job = page.jobs.find((j) => j.method === 'DCE');
    if (job && ['succeeded', 'failed'].includes(job.state)) break;
    await new Promise((r) => setTimeout(r, 1000));
  }
  assert(job?.state === 'succeeded', `DCE job: ${JSON.stringify(job)}`);

  browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS });
  for (const [locale, title] of [['en-US', 'DCE time–intensity curve (ROI)'], ['zh-CN', 'DCE 时间-信号强度曲线（感兴趣区）']]) {
    await test(`${locale}: open result shows the Ktrans overlay and the ROI curve against the AIF`, async () => {
      const context = await browser.newContext({ viewport: { width: 1440, height: 900 }, locale });
      const page = await context.newPage();
      const errors = [];
      page.on('pageerror', (e) => errors.push(e.message));
      await signIn(page, server);
      await page.goto(`${server.base}/analysis`);
      await page.locator('[data-testid=job-table] [data-action=open-result]').first().click();
      await page.waitForSelector('[data-testid=dce-curve]', { timeout: 30000 });
      const panelTitle = await page.locator('[data-testid=dce-curve] h3').textContent();
      assert(panelTitle === title, `panel title ${panelTitle}`);
      const url = new URL(page.url());
      assert(url.searchParams.get('overlay') && url.searchParams.get('job') === String(job.id), `viewer URL ${page.url()}`);
      // The overlay menu is filled once the result's maps are listed (the first page of a fresh browser may be later).
      await page.waitForFunction(() => document.querySelector('[data-testid=overlay]')?.value, null, { timeout: 15000 }).catch(() => undefined);
      const overlaySelected = await page.locator('[data-testid=overlay]').inputValue();
      assert(overlaySelected === url.searchParams.get('overlay'), `overlay ${overlaySelected}`);
      const offered = await page.locator('[data-testid=overlay] option').count();
      assert(offered >= 1 + 8, `overlay choices: ${offered - 1} (4 MR maps and 4 Parametric Maps expected)`);
      // The Ktrans map is drawn in colour over the dynamic series (the tissue enhances: Ktrans > 0).
      const drawn = () => page.evaluate(() => {
        const c = document.querySelector('canvas.parametric-overlay');
        if (!c || !c.width) return 0;
        return c.getContext('2d').getImageData(0, 0, c.width, c.height).data.filter((v, i) => i % 4 === 3 && v > 0).length;
      });
      await page.waitForFunction(() => {
        const c = document.querySelector('canvas.parametric-overlay');
        return !!c && c.width > 0 && c.getContext('2d').getImageData(0, 0, c.width, c.height).data.some((v, i) => i % 4 === 3 && v > 0);
      }, null, { timeout: 30000 }).catch(() => undefined);
      const px = await drawn();
      assert(px > 1000, `overlay pixels drawn: ${px}`);
      const coloured = await page.evaluate(() => {
        const c = document.querySelector('canvas.parametric-overlay');
        const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
        let n = 0;
        for (let i = 3; i < d.length; i += 4) if (d[i] > 100 && Math.max(d[i - 3], d[i - 2], d[i - 1]) > 60) n += 1; // drawn at the overlay's opacity
        return n;
      });
      assert(coloured > 1000, `opaque coloured overlay pixels: ${coloured}`);
      // A circle in the q3 quadrant (lower left) of slice 1.
      const inputs = page.locator('[data-testid=dce-curve] input');
      await inputs.nth(0).fill('1');
      await inputs.nth(1).fill('12');
      await inputs.nth(2).fill('28');
      await inputs.nth(3).fill('2');
      await page.click('[data-testid=dce-show]');
      await page.waitForSelector('[data-testid=dce-maps]', { timeout: 30000 });
      const points = (await page.locator('[data-testid=dce-tissue]').getAttribute('points')).split(' ');
      const aif = (await page.locator('[data-testid=dce-aif]').getAttribute('points')).split(' ');
      assert(points.length === 30 && aif.length === 30, `curve points ${points.length}, AIF ${aif.length}`);
      // Flat before the injection (bottom of the plot), then up.
      assert(points.slice(0, 4).every((p) => p.endsWith(',140.0')) && points.some((p) => p.endsWith(',0.0')), `tissue ${points.join(' ')}`);
      const maps = await page.locator('[data-testid=dce-maps]').textContent();
      const kt = Number(/Ktrans ([0-9.]+)/.exec(maps)?.[1]);
      const ve = Number(/ve ([0-9.]+)/.exec(maps)?.[1]);
      assert(Math.abs(kt - 0.2) < 0.004 && Math.abs(ve - 0.4) < 0.008, `ROI maps: ${maps}`);
      await page.screenshot({ path: join(ARTIFACTS, `dce-${locale}.png`) });
      assert(errors.length === 0, `page errors: ${errors.join('; ')}`);
      await context.close();
    });
  }

  // Pixels (column, row) whose centres lie inside a polygon (even–odd), as the server counts them.
  const inside = (points) => {
    let n = 0;
    for (let r = 0; r < 40; r += 1) for (let c = 0; c < 40; c += 1) {
      let within = false;
      for (let i = 0, j = points.length - 1; i < points.length; j = i, i += 1) {
        const [xi, yi] = points[i];
        const [xj, yj] = points[j];
        if (yi > r !== yj > r && c < ((xj - xi) * (r - yi)) / (yj - yi) + xi) within = !within;
      }
      if (within) n += 1;
    }
    return n;
  };
  for (const [locale, drawnWord] of [['en-US', 'Drawn ROI'], ['zh-CN', '绘制的感兴趣区']]) {
    await test(`${locale}: ROIs drawn with the mouse (rectangle, freehand) give the server's curve of those ROIs`, async () => {
      const context = await browser.newContext({ viewport: { width: 1440, height: 900 }, locale });
      const page = await context.newPage();
      const errors = [];
      page.on('pageerror', (e) => errors.push(e.message));
      await signIn(page, server);
      await page.goto(`${server.base}/analysis`);
      await page.locator('[data-testid=job-table] [data-action=open-result]').first().click();
      await page.waitForSelector('[data-testid=dce-curve]', { timeout: 30000 });
      const element = page.locator('.viewport-element').first();
      await page.waitForFunction(() => document.querySelector('canvas.cornerstone-canvas')?.width > 0, null, { timeout: 30000 });
      await page.waitForTimeout(500);
      const box = await element.boundingBox();
      // The 40×40 image is fitted into the viewport, centred: image (x, y) → screen.
      const side = Math.min(box.width, box.height);
      const at = (x, y) => [box.x + (box.width - side) / 2 + (x / 40) * side, box.y + (box.height - side) / 2 + (y / 40) * side];
      const drawnCurve = () => page.waitForResponse((r) => r.url().includes('/dce/curve?') && r.url().includes('sop='), { timeout: 30000 });
      // A rectangle in the q3 quadrant (lower left), dragged with the mouse.
      await page.click('[data-tool=rectangle]');
      const rectAnswer = drawnCurve();
      const [x0, y0] = at(10.2, 26.2);
      const [x1, y1] = at(14.8, 30.8);
      await page.mouse.move(x0, y0);
      await page.mouse.down();
      await page.mouse.move((x0 + x1) / 2, (y0 + y1) / 2, { steps: 4 });
      await page.mouse.move(x1, y1, { steps: 4 });
      await page.mouse.up();
      const rect = await (await rectAnswer).json();
      assert(rect.roi.points?.length === 4 && rect.n_voxels === inside(rect.roi.points) && rect.n_voxels >= 9, `drawn rectangle: ${JSON.stringify(rect.roi)} n ${rect.n_voxels}`);
      // The same pixels typed as a rectangle: the server's computation on that ROI.
      const xs = rect.roi.points.map((p) => p[0]);
      const ys = rect.roi.points.map((p) => p[1]);
      const cx = Math.floor(Math.min(...xs)) + 1;
      const cy = Math.floor(Math.min(...ys)) + 1;
      const typed = await (await server.fetch(`/api/jobs/${job.id}/dce/curve?slice=${rect.roi.slice}&x=${cx}&y=${cy}&width=${Math.ceil(Math.max(...xs)) - cx}&height=${Math.ceil(Math.max(...ys)) - cy}`)).json();
      assert(typed.n_voxels === rect.n_voxels, `typed rectangle ${typed.n_voxels} voxels, drawn ${rect.n_voxels}`);
      assert(typed.concentration_mM.every((v, i) => Math.abs(v - rect.concentration_mM[i]) < 1e-9), 'the drawn ROI\'s curve is not the typed one\'s');
      await page.waitForFunction((w) => document.querySelector('[data-testid=dce-drawn]')?.textContent.includes(w), drawnWord, { timeout: 10000 });
      const maps = await page.locator('[data-testid=dce-maps]').textContent();
      const kt = Number(/Ktrans ([0-9.]+)/.exec(maps)?.[1]);
      assert(Math.abs(kt - typed.maps.ktrans.median) < 0.0015 && Math.abs(kt - 0.2) < 0.004, `shown Ktrans ${kt}, server ${typed.maps.ktrans.median}`);
      const shown = (await page.locator('[data-testid=dce-tissue]').getAttribute('points')).split(' ');
      assert(shown.length === 30, `curve points ${shown.length}`);
      // A freehand contour (a triangle) in the same quadrant, on a fresh page (a press on the rectangle's
      // statistics box would move that box instead of drawing).
      await page.reload();
      await page.waitForSelector('[data-testid=dce-curve]', { timeout: 30000 });
      await page.waitForFunction(() => document.querySelector('canvas.cornerstone-canvas')?.width > 0, null, { timeout: 30000 });
      await page.waitForTimeout(500);
      await page.click('[data-tool=freehand]');
      const freeAnswer = drawnCurve();
      const tri = [at(6, 27), at(13, 23.5), at(11, 31)];
      await page.mouse.move(...tri[0]);
      await page.mouse.down();
      for (const p of [tri[1], tri[2], tri[0]]) await page.mouse.move(...p, { steps: 12 });
      await page.mouse.up();
      const free = await (await freeAnswer).json();
      assert(free.roi.points.length >= 3 && free.n_voxels === inside(free.roi.points) && free.n_voxels > 5, `freehand: ${free.roi.points.length} points, n ${free.n_voxels} (${inside(free.roi.points)})`);
      const again = await (await server.fetch(`/api/jobs/${job.id}/dce/curve?slice=${free.roi.slice}&points=${free.roi.points.map((p) => p.join(',')).join(';')}`)).json();
      assert(again.concentration_mM.every((v, i) => Math.abs(v - free.concentration_mM[i]) < 1e-9), 'the freehand curve is not the server\'s on those points');
      assert(Math.abs(free.maps.ktrans.median - 0.2) < 0.004, `freehand Ktrans ${free.maps.ktrans.median}`);
      await page.screenshot({ path: join(ARTIFACTS, `dce-drawn-${locale}.png`) });
      assert(errors.length === 0, `page errors: ${errors.join('; ')}`);
      await context.close();
    });
  }

  await test('a drawn arterial region becomes the measured AIF: recorded with the job and shown', async () => {
    const context = await browser.newContext({ viewport: { width: 1440, height: 900 }, locale: 'en-US' });
    const page = await context.newPage();
    const errors = [];
    page.on('pageerror', (e) => errors.push(e.message));
    await signIn(page, server);
    const open = async () => {
      await page.goto(`${server.base}/analysis`);
      await page.locator('[data-testid=job-table] [data-action=open-result]').first().click();
      await page.waitForSelector('[data-testid=dce-curve]', { timeout: 30000 });
      await page.waitForFunction(() => document.querySelector('canvas.cornerstone-canvas')?.width > 0, null, { timeout: 30000 });
      await page.waitForTimeout(500);
    };
    await open();
    const box = await page.locator('.viewport-element').first().boundingBox();
    const side = Math.min(box.width, box.height);
    const at = (x, y) => [box.x + (box.width - side) / 2 + (x / 40) * side, box.y + (box.height - side) / 2 + (y / 40) * side];
    // An ellipse on the artery (a disc of radius 3.2 around the image centre, 19.5, 19.5).
    await page.click('[data-tool=ellipse]');
    const answer = page.waitForResponse((r) => r.url().includes('/dce/curve?') && r.url().includes('sop='), { timeout: 30000 });
    const [x0, y0] = at(18.2, 18.2);
    const [x1, y1] = at(21.8, 21.8);
    await page.mouse.move(x0, y0);
    await page.mouse.down();
    await page.mouse.move(x1, y1, { steps: 6 });
    await page.mouse.up();
    const drawn = await (await answer).json();
    assert(drawn.roi.rx > 1 && drawn.roi.ry > 1 && drawn.n_voxels >= 5, `drawn ellipse ${JSON.stringify(drawn.roi)} n ${drawn.n_voxels}`);
    assert((await page.textContent('[data-testid=dce-aif-region]')).includes('AIF: population'), 'the population AIF is not named');
    const saved = page.waitForResponse((r) => r.url().endsWith(`/api/jobs/${job.id}/dce/rois`));
    await page.click('[data-testid=dce-save-aif]');
    assert((await saved).status() === 200, 'saving the arterial region failed');
    const deadline = Date.now() + 180000;
    let rerun;
    while (Date.now() < deadline) {
      rerun = await (await server.fetch(`/api/jobs/${job.id}`)).json();
      if (rerun.version >= 2 && ['succeeded', 'failed'].includes(rerun.state)) break;
      await new Promise((r) => setTimeout(r, 1000));
    }
    const region = rerun.statistics.dce.aif.region;
    assert(rerun.state === 'succeeded' && rerun.statistics.dce.aif.kind === 'measured', `rerun: ${rerun.state} ${rerun.reason}`);
    assert(region.how === 'drawn' && region.n_voxels === drawn.n_voxels && JSON.stringify(region.roi) === JSON.stringify(drawn.roi), `region ${JSON.stringify(region).slice(0, 300)}`);
    await open();
    await page.click('[data-testid=dce-show]');
    await page.waitForFunction((n) => document.querySelector('[data-testid=dce-aif-region]')?.textContent.includes(`drawn, ${n} voxels`), drawn.n_voxels, { timeout: 30000 });
    const pdf = await (await server.fetch(`/api/jobs/${job.id}/report.pdf?lang=en`)).arrayBuffer();
    writeFileSync(join(ARTIFACTS, 'dce-report-aif.pdf'), Buffer.from(pdf));
    const text = execFileSync('pdftotext', ['-layout', join(ARTIFACTS, 'dce-report-aif.pdf'), '-']).toString();
    assert(text.includes('Arterial input function: drawn region') && text.includes(`${drawn.n_voxels} voxels`), `PDF: ${text.slice(0, 800)}`);
    await page.screenshot({ path: join(ARTIFACTS, 'dce-aif-region.png') });
    assert(errors.length === 0, `page errors: ${errors.join('; ')}`);
    await context.close();
  });

  await test('after a re-run the viewer marks the replaced result series superseded (zh-CN and English)', async () => {
    const before = (await (await server.fetch(`/api/jobs/${job.id}`)).json()).results.length;
    const rerun = await server.fetch(`/api/jobs/${job.id}/rerun`, { method: 'POST' });
    assert(rerun.status < 300, `rerun answered ${rerun.status}: ${await rerun.text()}`);
    let detail;
    const until = Date.now() + 180000;
    while (Date.now() < until) {
      detail = await (await server.fetch(`/api/jobs/${job.id}`)).json();
      if (detail.results.length > before && ['succeeded', 'failed'].includes(detail.state)) break;
      await new Promise((r) => setTimeout(r, 1000));
    }
    assert(detail.state === 'succeeded' && detail.results.length === before + 1, `re-run: ${detail.state}, ${detail.results.length} results (${before} before)`);
    const old = new Set(detail.results.filter((r) => r.superseded).flatMap((r) => Object.values(r.series)));
    const current = new Set(Object.values(detail.results.find((r) => !r.superseded).series));
    for (const [locale, word] of [['en-US', 'superseded'], ['zh-CN', '已被取代']]) {
      const context = await browser.newContext({ viewport: { width: 1440, height: 900 }, locale });
      try {
        const page = await context.newPage();
        await signIn(page, server);
        await page.goto(`${server.base}/viewer/${job.study_instance_uid}`);
        await page.waitForSelector('[data-testid=superseded]', { timeout: 30000 });
        const marked = await page.$$eval('.series-item', (items) =>
          items.map((i) => ({ uid: i.dataset.seriesUid, badge: i.querySelector('[data-testid=superseded]')?.textContent?.trim() ?? '' })));
        await page.screenshot({ path: join(ARTIFACTS, `dce-superseded-${locale}.png`) });
        const badged = marked.filter((m) => m.badge).map((m) => m.uid);
        const listedOld = marked.filter((m) => old.has(m.uid)).map((m) => m.uid);
        assert(listedOld.length > 0, `none of the superseded series listed: ${JSON.stringify(marked)}`);
        assert(listedOld.every((u) => badged.includes(u)), `superseded series without a badge: ${listedOld.filter((u) => !badged.includes(u))}`);
        assert(badged.every((u) => old.has(u) && !current.has(u)), `a badge on a series that is not superseded: ${badged.filter((u) => !old.has(u))}`);
        assert(marked.filter((m) => m.badge).every((m) => m.badge === word), `badge text ${JSON.stringify(marked.map((m) => m.badge))}, expected ${word}`);
      } finally {
        await context.close();
      }
    }
  });
} catch (e) {
  fail('setup', e, server.output());
} finally {
  await browser?.close();
  await server.stop();
  rmSync(work, { recursive: true, force: true });
}
finish('e2e-dce');
