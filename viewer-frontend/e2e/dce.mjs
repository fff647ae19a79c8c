// Browser test of the DCE-MRI result in the viewer (issue 19): a synthetic DCE study made at test time from
// the forward model (tests/quant/dce/builders.py) goes over STOW-RS into a real `cirrus serve` with one
// worker; the DCE job is queued on arrival and fitted; "Open result" in the analysis queue opens the
// dynamic series with the Ktrans overlay and the ROI curve panel, whose curve and map values are checked,
// in English and in Chinese, signed in as the admin. Prints `e2e-dce: N passed, M failed`; screenshots go to <repo>/test-artifacts/e2e/.
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium } from 'playwright-core';
import { CHROMIUM, CHROMIUM_ARGS, REPO_DIR, listFiles, signIn, startServer, stowFiles } from './server.mjs';

const ARTIFACTS = join(REPO_DIR, 'test-artifacts', 'e2e');
mkdirSync(ARTIFACTS, { recursive: true });
const PYTHON = process.env.CIRRUS_PYTHON ?? join(REPO_DIR, '.venv/bin/python');
const SERVER_DIR = process.env.CIRRUS_SERVER_DIR ?? REPO_DIR;

const results = [];
async function test(name, fn) {
  const started = Date.now();
  try {
    await fn();
    results.push({ name, status: 'passed' });
    console.log(`ok - ${name} (${Date.now() - started} ms)`);
  } catch (e) {
    results.push({ name, status: 'failed' });
    console.log(`not ok - ${name}: ${e.stack ?? e}`);
  }
}
function assert(cond, message) {
  if (!cond) throw new Error(message);
}

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

  await test('after a re-run the viewer marks the replaced result series superseded (zh-CN and English)', async () => {
    const rerun = await server.fetch(`/api/jobs/${job.id}/rerun`, { method: 'POST' });
    assert(rerun.status < 300, `rerun answered ${rerun.status}: ${await rerun.text()}`);
    let detail;
    const until = Date.now() + 180000;
    while (Date.now() < until) {
      detail = await (await server.fetch(`/api/jobs/${job.id}`)).json();
      if (detail.results.length >= 2 && ['succeeded', 'failed'].includes(detail.state)) break;
      await new Promise((r) => setTimeout(r, 1000));
    }
    assert(detail.state === 'succeeded' && detail.results.length === 2, `re-run: ${detail.state}, ${detail.results.length} results`);
    const old = new Set(Object.values(detail.results.find((r) => r.superseded).series));
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
  results.push({ name: 'setup', status: 'failed' });
  console.log(`not ok - setup: ${e.stack ?? e}\n${server.output()}`);
} finally {
  await browser?.close();
  await server.stop();
  rmSync(work, { recursive: true, force: true });
}
const failed = results.filter((r) => r.status === 'failed').length;
console.log(`e2e-dce: ${results.length - failed} passed, ${failed} failed`);
process.exit(failed ? 1 : 0);
