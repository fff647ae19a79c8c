// Viewer speed in a real browser: time to the first image of a 250-image CT series, and scroll rate
// through the loaded series. Starts its own `cirrus serve` (repo .venv), synthesises the CT series with
// pydicom, loads it over STOW-RS, drives Debian's chromium with playwright-core, prints the figures.
//
//   node bench/viewer_speed.mjs            (needs `make install` and `npm run build` in viewer-frontend)
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { loadavg, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const REPO = resolve(fileURLToPath(import.meta.url), '../..');
const FRONT = join(REPO, 'viewer-frontend');
const { CHROMIUM, CHROMIUM_ARGS, listFiles, signIn, startServer, stowFiles } = await import(join(FRONT, 'e2e/server.mjs'));
const { chromium } = createRequire(join(FRONT, 'package.json'))('playwright-core');

const IMAGES = Number(process.env.BENCH_IMAGES ?? 250);
const RUNS = Number(process.env.BENCH_RUNS ?? 3);
// BENCH_TRACE=<folder>: also write a Chrome performance trace of one click-to-first-image and of the
// wheel scroll there (open in chrome://tracing or Perfetto).
const TRACE = process.env.BENCH_TRACE;
const load = () => loadavg().map((x) => x.toFixed(1)).join(' ');

/** Where the time of one click-to-first-image went: the viewer's User Timing marks and its requests. */
function breakdown(page, since) {
  return page.evaluate((t0) => {
    const rel = (t) => Math.round(t - t0);
    const out = [];
    for (const m of performance.getEntriesByType('mark')) if (m.name.startsWith('cirrus:') && m.startTime >= t0) out.push([rel(m.startTime), m.name]);
    let frames = 0;
    for (const r of performance.getEntriesByType('resource')) {
      if (r.startTime < t0) continue;
      // The first frame requests; the rest are the stack's prefetch (counted, not listed).
      if (r.name.includes('/frames/') && (frames += 1) > 3) continue;
      const name = r.name.replace(location.origin, '').replace(/\/studies\/[^/]+/, '/studies/…').replace(/\/series\/[^/?]+/, '/series/…').replace(/\/instances\/[^/]+/, '/instances/…').slice(0, 70);
      out.push([rel(r.startTime), `${name} (${r.initiatorType}) wait ${Math.round(r.responseStart - r.startTime)} ms, body ${Math.round(r.responseEnd - r.responseStart)} ms`]);
    }
    if (frames > 3) out.push([rel(performance.now()), `(${frames - 3} more frame requests: the prefetch)`]);
    return out.sort((a, b) => a[0] - b[0]).map(([t, what]) => `${String(t).padStart(6)} ms  ${what}`);
  }, since);
}

// A 512×512 int16 CT-like phantom: air, a water ellipse with bone rim and a few inserts that move
// along z, so consecutive slices differ (scroll really changes pixels).
const SYNTH = `
import sys, numpy as np, pydicom
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian, generate_uid, CTImageStorage
out, n = sys.argv[1], int(sys.argv[2])
study, series, frame = generate_uid(), generate_uid(), generate_uid()
yy, xx = np.mgrid[0:512, 0:512]
body = ((xx - 256) / 200.0) ** 2 + ((yy - 256) / 160.0) ** 2
for i in range(n):
    img = np.full((512, 512), -1000, np.int16)
    img[body <= 1] = 40
    img[(body > 0.9) & (body <= 1)] = 900
    r = 30 + 20 * np.sin(i / 15.0)
    img[((xx - 200) ** 2 + (yy - 230) ** 2) < r * r] = -700
    img[((xx - 320) ** 2 + (yy - 280) ** 2) < (50 - r / 2) ** 2] = 300
    img = img + (np.random.default_rng(i).normal(0, 8, img.shape)).astype(np.int16)
    m = FileMetaDataset(); m.MediaStorageSOPClassUID = CTImageStorage
    m.MediaStorageSOPInstanceUID = generate_uid(); m.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = Dataset(); ds.file_meta = m
    ds.SOPClassUID = CTImageStorage; ds.SOPInstanceUID = m.MediaStorageSOPInstanceUID
    ds.StudyInstanceUID, ds.SeriesInstanceUID, ds.FrameOfReferenceUID = study, series, frame
    ds.PatientName, ds.PatientID, ds.StudyDate, ds.Modality = "BENCH^CT", "BENCH1", "20240101", "CT"
    ds.StudyDescription, ds.SeriesDescription, ds.SeriesNumber, ds.InstanceNumber = "Bench", "CT 250", 1, i + 1
    ds.ImagePositionPatient = [-250, -250, -i * 1.25]; ds.ImageOrientationPatient = [1, 0, 0, 0, 1, 0]
    ds.PixelSpacing = [0.98, 0.98]; ds.SliceThickness = 1.25
    ds.Rows = ds.Columns = 512; ds.SamplesPerPixel = 1; ds.PhotometricInterpretation = "MONOCHROME2"
    ds.BitsAllocated = 16; ds.BitsStored = 16; ds.HighBit = 15; ds.PixelRepresentation = 1
    ds.RescaleIntercept, ds.RescaleSlope, ds.WindowCenter, ds.WindowWidth = 0, 1, 40, 400
    ds.PixelData = img.tobytes()
    ds.save_as(f"{out}/{i:04d}.dcm", enforce_file_format=True)
print(study, series)
`;

function median(xs) {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
}

const work = mkdtempSync(join(tmpdir(), 'cirrus-bench-'));
const server = await startServer();
let browser;
try {
  const [studyUid, seriesUid] = execFileSync(process.env.CIRRUS_PYTHON ?? join(REPO, '.venv/bin/python'), ['-c', SYNTH, work, String(IMAGES)])
    .toString()
    .trim()
    .split(' ');
  const t0 = Date.now();
  const { stored } = await stowFiles(server, listFiles(work));
  console.log(`loaded ${stored} CT images (512×512 int16) in ${((Date.now() - t0) / 1000).toFixed(1)} s`);

  browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS });
  const viewerUrl = `${server.base}/viewer/${studyUid}?series=${seriesUid}`;
  const firstImage = async (page) => {
    await page.waitForFunction(() => window.__cirrus?.firstImageAt > 0, null, { timeout: 30000, polling: 10 });
    return page.evaluate(() => window.__cirrus);
  };

  // Sign in once; the cold contexts start with that session cookie (and an empty cache).
  const login = await browser.newContext();
  await signIn(await login.newPage(), server);
  const storageState = await login.storageState();
  await login.close();

  // 1. Cold: a fresh browser context navigates straight to the viewer (HTML, JS, wasm, metadata, frame).
  const cold = [];
  for (let r = 0; r < RUNS; r += 1) {
    const ctx = await browser.newContext({ storageState, viewport: { width: 1400, height: 900 } });
    const page = await ctx.newPage();
    await page.goto(viewerUrl);
    const perf = await firstImage(page);
    cold.push(perf.firstImageAt); // ms since navigation start
    await ctx.close();
  }

  // 2. In the app: from the study list, click the study (code already loaded, as a doctor would).
  const warm = [];
  const ctx = await browser.newContext({ storageState, viewport: { width: 1400, height: 900 } });
  const page = await ctx.newPage();
  page.on('crash', () => console.log('the page crashed'));
  page.on('pageerror', (e) => console.log(`page error: ${e.message}`));
  let lastBreakdown = [];
  const loads = [load()];
  for (let r = 0; r < RUNS + (TRACE ? 1 : 0); r += 1) {
    await page.goto(`${server.base}/`);
    await page.waitForSelector(`.study-row[data-study-uid="${studyUid}"]`);
    await page.waitForTimeout(500); // let the list's idle preload of the viewer code finish
    const tracing = TRACE && r === RUNS;
    if (tracing) await browser.startTracing(page, { path: join(TRACE, 'first-image.json'), screenshots: false });
    const clickAt = await page.evaluate(() => performance.now());
    await page.click(`.study-row[data-study-uid="${studyUid}"]`);
    const perf = await firstImage(page);
    if (tracing) {
      await browser.stopTracing();
      continue;
    }
    warm.push(perf.firstImageAt - clickAt);
    lastBreakdown = [...(await breakdown(page, clickAt)), `${String(Math.round(perf.firstImageAt - clickAt)).padStart(6)} ms  first image painted`];
  }
  loads.push(load());
  const cpu = await page.evaluate(() => window.__cirrus.cpuRendering);

  // 3. Scroll, once the whole series is in the image cache.
  const cacheStart = Date.now();
  await page.waitForFunction(() => {
    const [done, all] = window.__cirrus.cachedImages();
    return all > 0 && done === all;
  }, null, { timeout: 120000, polling: 100 });
  const cacheSeconds = (Date.now() - cacheStart) / 1000;
  // 3a. Real mouse-wheel input (trusted events through the DevTools protocol, one image per notch):
  // frames cornerstone renders per second. Bounded by how fast the protocol delivers input, too.
  // Stacks open on the middle image: start the wheel at the first one, else half the notches hit the
  // end of the series and render nothing (the earlier figures counted them: 249 notches, 124 frames).
  await page.evaluate(async () => {
    await window.__cirrus.viewport().setImageIdIndex(0);
    await new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(r)));
  });
  const box = await page.locator('.vp-element').boundingBox();
  await page.mouse.move(box.x + box.width / 2, box.y + box.height / 2);
  if (TRACE) await browser.startTracing(page, { path: join(TRACE, 'wheel.json'), screenshots: false });
  const before = await page.evaluate(() => ({ r: window.__cirrus.rendered, t: performance.now() }));
  for (let i = 0; i < IMAGES - 1; i += 1) await page.mouse.wheel(0, 100);
  const after = await page.evaluate(async () => {
    await new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(r)));
    return { r: window.__cirrus.rendered, t: performance.now(), index: window.__cirrus.viewport().getCurrentImageIdIndex() };
  });
  const wheel = { frames: after.r - before.r, seconds: (after.t - before.t) / 1000, index: after.index };
  if (TRACE) await browser.stopTracing();
  // 3b. The viewer's own limit: show each image in turn, waiting for it to be painted.
  const scroll = await page.evaluate(async () => {
    const vp = window.__cirrus.viewport();
    const n = vp.getImageIds().length;
    const t = performance.now();
    // Walk away from the current image so every step is a new one.
    const from = vp.getCurrentImageIdIndex();
    const order = from > n / 2 ? [...Array(n).keys()].reverse() : [...Array(n).keys()];
    for (const i of order) {
      if (i === from) continue;
      const painted = new Promise((r) => vp.element.addEventListener('CORNERSTONE_IMAGE_RENDERED', r, { once: true }));
      vp.setImageIdIndex(i);
      await painted;
    }
    return { frames: n - 1, seconds: (performance.now() - t) / 1000 };
  });
  await ctx.close();

  const fps = scroll.frames / scroll.seconds;
  console.log(`load average (1, 5, 15 min) before the clicks ${loads[0]}, after them ${loads[1]}, at the end ${load()}`);
  console.log(`where the last click's time went (ms after the click):\n${lastBreakdown.join('\n')}`);
  console.log(`rendering: ${cpu ? 'CPU path (software WebGL detected)' : 'WebGL'} (headless chromium, --disable-gpu)`);
  console.log(`first image, cold page load to pixels: median ${Math.round(median(cold))} ms (runs: ${cold.map(Math.round).join(', ')})`);
  console.log(`first image, click in study list to pixels: median ${Math.round(median(warm))} ms (runs: ${warm.map(Math.round).join(', ')})  target ≤ 1000 ms`);
  console.log(`whole series in cache ${cacheSeconds.toFixed(1)} s after the first image`);
  console.log(`scroll by mouse wheel: ${wheel.frames} frames in ${wheel.seconds.toFixed(2)} s = ${(wheel.frames / wheel.seconds).toFixed(1)} frames/s (ended on image ${wheel.index + 1}/${IMAGES})  target ≥ 25`);
  console.log(`scroll, paint-bound (each image shown and painted in turn): ${scroll.frames} frames in ${scroll.seconds.toFixed(2)} s = ${fps.toFixed(1)} frames/s`);
} finally {
  await browser?.close();
  await server.stop();
  rmSync(work, { recursive: true, force: true });
}
