// Browser tests of measurements kept with the study (issue 15): a length and a rectangle ROI drawn on a
// CBF map are saved as a TID 1500 SR (POST /api/studies/{study}/measurements), the SR is in QIDO, and after
// a reload the viewer reads it back via DICOMweb and shows the same measurements with the same values;
// the eraser and "clear all"; W/L sync changes the other pane's VOI (and only when on); the ASL hanging
// protocol lays out anatomy | CBF | colour with synced scroll and the perfusion palette.
// A real `cirrus serve`; the Siemens 3D pCASL study from ../shared/data with the CBF map and colour series
// our own `cirrus quant` makes of it, and the axial/sagittal fixture of e2e/fixtures.mjs.
// Prints `e2e-measure: N passed, M failed`; screenshots go to <repo>/test-artifacts/e2e/.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium } from 'playwright-core';
import { CHROMIUM, CHROMIUM_ARGS, signIn, startServer, stowFiles } from './server.mjs';
import { ARTIFACTS, assert, crossAndAslFiles, runner } from './harness.mjs';

const ASL = 'asl/siemens/pcasl3d';
const { test, fail, finish } = runner({ only: process.argv[2] });

const server = await startServer();
let browser;
const work = mkdtempSync(join(tmpdir(), 'cirrus-measure-'));
try {
  const files = crossAndAslFiles(work, ASL);
  const loaded = await stowFiles(server, files);
  assert(loaded.failed === 0 && loaded.stored === files.length, `STOW: ${JSON.stringify(loaded)} of ${files.length}`);
  const studies = await (await server.fetch('/dicom-web/studies?includefield=00100010')).json();
  const crossUid = studies.find((s) => JSON.stringify(s['00100010'] ?? {}).includes('CROSS'))?.['0020000D'].Value[0];
  const aslUid = studies.find((s) => s['0020000D'].Value[0] !== crossUid)?.['0020000D'].Value[0];
  const aslSeries = await (await server.fetch(`/dicom-web/studies/${aslUid}/series?includefield=0008103E&includefield=00080008`)).json();
  const typed = (type) => aslSeries.filter((s) => (s['00080008']?.Value ?? []).join('\\') === type).map((s) => s['0020000E'].Value[0]);
  const cbfCandidates = typed('DERIVED\\SECONDARY\\CBF');
  // The CBF map (MR) and the colour series (Secondary Capture) both say CBF; the SOP class tells them apart.
  const sopClass = async (uid) => (await (await server.fetch(`/dicom-web/studies/${aslUid}/series/${uid}/instances?limit=1`)).json())[0]['00080016'].Value[0];
  const classes = await Promise.all(cbfCandidates.map(sopClass));
  const cbfUid = cbfCandidates[classes.indexOf('1.2.840.10008.5.1.4.1.1.4')];
  const colourUid = cbfCandidates.find((_, i) => classes[i] !== '1.2.840.10008.5.1.4.1.1.4');
  assert(crossUid && cbfUid && colourUid, `series: ${JSON.stringify(aslSeries.map((s) => [s['0008103E']?.Value, s['00080008']?.Value]))}`);

  browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS });
  const context = await browser.newContext({ viewport: { width: 1440, height: 900 }, locale: 'en-US' });
  const page = await context.newPage();
  page.on('dialog', (d) => d.accept());
  await signIn(page, server);
  const pageErrors = [];
  page.on('pageerror', (e) => pageErrors.push(e.message));

  async function open(studyUid, query = '') {
    await page.goto(`${server.base}/viewer/${studyUid}${query}`);
    await page.waitForFunction(() => window.__cirrus?.firstImageAt > 0 && window.__cirrus.tools && window.__cirrus.viewport(0)?.getImageData(), null, { timeout: 30000 });
    await page.waitForTimeout(500);
  }
  const box = (i) => page.locator('.vp-element').nth(i).boundingBox();
  async function drag(i, from, to) {
    const b = await box(i);
    await page.mouse.move(b.x + from[0], b.y + from[1]);
    await page.mouse.down();
    await page.mouse.move(b.x + to[0], b.y + to[1], { steps: 8 });
    await page.mouse.up();
    await page.waitForTimeout(300);
  }
  /** The measurement annotations as cornerstone holds them: tool, uid, numbers (rounded), referenced image. */
  const annotations = () =>
    page.evaluate(() =>
      window.__cirrus.tools.annotation.state
        .getAllAnnotations()
        .filter((a) => ['Length', 'RectangleROI', 'EllipticalROI', 'Angle', 'Probe', 'PlanarFreehandROI'].includes(a.metadata.toolName))
        .map((a) => {
          const s = Object.values(a.data.cachedStats ?? {})[0] ?? {};
          const r = (v) => (typeof v === 'number' ? Math.round(v * 100) / 100 : null);
          return { tool: a.metadata.toolName, uid: a.annotationUID, image: a.metadata.referencedImageId, length: r(s.length), area: r(s.area), mean: r(s.mean), unit: s.modalityUnit ?? null };
        })
        .sort((x, y) => x.tool.localeCompare(y.tool)),
    );
  const listed = () => page.locator('[data-testid=measure-entry] [data-testid=measure-value]').allTextContents();
  const srSeries = async (studyUid) => {
    const r = await server.fetch(`/dicom-web/studies/${studyUid}/series?Modality=SR&includefield=0008103E`);
    return r.status === 200 ? r.json() : [];
  };

  await test('measurements: a length and a rectangle ROI on the CBF map are saved as an SR and come back after a reload with the same values', async () => {
    await open(aslUid, `?series=${cbfUid}`);
    const b = await box(0);
    const c = [b.width / 2, b.height / 2];
    await page.click('[data-tool=length]');
    await drag(0, [c[0] - 60, c[1] - 20], [c[0] + 50, c[1] + 30]);
    await page.click('[data-tool=rectangle]');
    await drag(0, [c[0] - 40, c[1] - 40], [c[0] + 30, c[1] + 20]);
    await page.waitForFunction(() => document.querySelectorAll('[data-testid=measure-entry]').length === 2, null, { timeout: 10000 });
    const before = await annotations();
    assert(before.length === 2 && before[0].tool === 'Length' && before[0].length > 5, `drawn: ${JSON.stringify(before)}`);
    assert(before[1].tool === 'RectangleROI' && before[1].area > 10 && before[1].mean !== null, `rectangle: ${JSON.stringify(before[1])}`);
    const shown = await listed();
    assert(shown.some((t) => t.endsWith('mm')) && shown.some((t) => t.includes('mm²')), `list: ${shown}`);
    assert((await page.textContent('[data-testid=measure-status]')).includes('Not saved'), 'no "not saved" after drawing');
    await page.click('[data-action=measure-save]');
    await page.waitForFunction(() => document.querySelector('[data-testid=measure-status]')?.textContent?.includes('Saved'), null, { timeout: 15000 });
    await page.screenshot({ path: join(ARTIFACTS, 'm01-measurements-saved.png') });
    // The SR is in QIDO.
    const sr = await srSeries(aslUid);
    assert(sr.some((s) => s['0008103E']?.Value?.[0] === 'Measurements'), `QIDO SR series: ${JSON.stringify(sr)}`);
    // Reload: the viewer reads the SR back and draws the same measurements on the same image.
    await open(aslUid, `?series=${cbfUid}`);
    await page.waitForFunction(() => document.querySelectorAll('[data-testid=measure-entry]').length === 2, null, { timeout: 15000 });
    await page.waitForFunction(() => window.__cirrus.tools.annotation.state.getAllAnnotations().every((a) => Object.keys(a.data.cachedStats ?? {}).length), null, { timeout: 10000 });
    const after = await annotations();
    assert(JSON.stringify(after) === JSON.stringify(before), `after reload: ${JSON.stringify(after)}\nbefore: ${JSON.stringify(before)}`);
    assert(JSON.stringify(await listed()) === JSON.stringify(shown), `list after reload: ${await listed()} (was ${shown})`);
    assert((await page.textContent('[data-testid=measure-status]')).includes('Loaded from the study (report 1)'), await page.textContent('[data-testid=measure-status]'));
    await page.screenshot({ path: join(ARTIFACTS, 'm02-measurements-reloaded.png') });
  });

  await test('measurements: the list jumps to the image; the eraser removes one; "clear all" saved leaves none after a reload', async () => {
    await open(aslUid, `?series=${cbfUid}`);
    await page.waitForFunction(() => document.querySelectorAll('[data-testid=measure-entry]').length === 2, null, { timeout: 15000 });
    const index = () => page.evaluate(() => window.__cirrus.viewport(0).getCurrentImageIdIndex());
    const drawnOn = await index();
    const b = await box(0);
    await page.mouse.move(b.x + b.width / 2, b.y + b.height / 2);
    for (let k = 0; k < 3; k += 1) await page.mouse.wheel(0, 120);
    await page.waitForTimeout(500);
    assert((await index()) !== drawnOn, 'scrolling did not leave the image');
    await page.locator('[data-testid=measure-entry] .jump').first().click();
    await page.waitForFunction((k) => window.__cirrus.viewport(0).getCurrentImageIdIndex() === k, drawnOn, { timeout: 5000 });
    // The eraser: a click on the length's line removes it.
    const mid = await page.evaluate(() => {
      const a = window.__cirrus.tools.annotation.state.getAllAnnotations().find((x) => x.metadata.toolName === 'Length');
      const [p, q] = a.data.handles.points.map((w) => window.__cirrus.viewport(0).worldToCanvas(w));
      return [(p[0] + q[0]) / 2, (p[1] + q[1]) / 2];
    });
    await page.click('[data-tool=eraser]');
    await page.mouse.click(b.x + mid[0], b.y + mid[1]);
    await page.waitForFunction(() => document.querySelectorAll('[data-testid=measure-entry]').length === 1, null, { timeout: 5000 });
    assert((await annotations()).map((a) => a.tool).join() === 'RectangleROI', `after the eraser: ${JSON.stringify(await annotations())}`);
    await page.click('[data-action=measure-clear]');
    await page.waitForFunction(() => document.querySelectorAll('[data-testid=measure-entry]').length === 0, null, { timeout: 5000 });
    await page.click('[data-action=measure-save]');
    await page.waitForFunction(() => document.querySelector('[data-testid=measure-status]')?.textContent?.includes('Saved'), null, { timeout: 15000 });
    await open(aslUid, `?series=${cbfUid}`);
    await page.waitForFunction(() => document.querySelector('[data-testid=measure-status]')?.textContent?.includes('Loaded'), null, { timeout: 15000 });
    assert((await annotations()).length === 0, `after clear all + reload: ${JSON.stringify(await annotations())}`);
    assert((await page.textContent('[data-testid=measure-status]')).includes('report 2'), await page.textContent('[data-testid=measure-status]'));
  });

  await test('W/L sync: dragging W/L in one pane changes the other pane\'s VOI only while sync is on', async () => {
    await open(crossUid);
    await page.selectOption('[data-testid=layout]', '1x2');
    await page.waitForFunction(() => window.__cirrus.viewport(1)?.getImageData(), null, { timeout: 20000 });
    await page.waitForTimeout(500);
    const voi = (i) => page.evaluate((k) => ({ ...window.__cirrus.viewport(k).getProperties().voiRange }), i);
    await page.click('[data-tool=wl]');
    const b = await box(0);
    const c = [b.width / 2, b.height / 2];
    const other = await voi(1);
    await drag(0, c, [c[0] + 60, c[1] + 40]);
    const own = await voi(0);
    assert(JSON.stringify(await voi(1)) === JSON.stringify(other), `pane 2 followed without sync: ${JSON.stringify(await voi(1))} (was ${JSON.stringify(other)})`);
    assert(JSON.stringify(own) !== JSON.stringify(other), 'the drag did not change pane 1');
    await page.check('[data-testid=sync-wl]');
    await drag(0, c, [c[0] + 40, c[1] - 60]);
    await page.waitForTimeout(300);
    const [v0, v1] = [await voi(0), await voi(1)];
    assert(JSON.stringify(v0) !== JSON.stringify(own), 'the second drag did not change pane 1');
    assert(Math.abs(v0.lower - v1.lower) < 1e-6 && Math.abs(v0.upper - v1.upper) < 1e-6, `with sync pane 2 has ${JSON.stringify(v1)}, pane 1 ${JSON.stringify(v0)}`);
    await page.screenshot({ path: join(ARTIFACTS, 'm03-wl-sync.png') });
  });

  await test('key image: the toolbar button stores a Key Object Selection naming the image shown', async () => {
    await open(aslUid, `?series=${cbfUid}`);
    const b = await box(0);
    await page.mouse.move(b.x + b.width / 2, b.y + b.height / 2);
    await page.mouse.wheel(0, 120);
    await page.waitForTimeout(500);
    const sop = await page.evaluate(() => window.__cirrus.viewport(0).getCurrentImageId().split('/instances/')[1].split('/')[0]);
    await page.click('[data-action=key-image]');
    await page.waitForFunction(() => document.querySelector('[data-testid=key-image-status]')?.textContent?.includes('Key image marked (no. 1)'), null, { timeout: 15000 });
    const ko = await (await server.fetch(`/dicom-web/studies/${aslUid}/series?Modality=KO`)).json();
    assert(ko.length === 1, `QIDO KO series: ${JSON.stringify(ko)}`);
    const [doc] = await (await server.fetch(`/dicom-web/studies/${aslUid}/series/${ko[0]['0020000E'].Value[0]}/metadata`)).json();
    assert(JSON.stringify(doc['0040A730']).includes(sop), `the KOS does not name the image shown (${sop})`);
  });

  await test('ASL hanging protocol: anatomy | CBF map (perfusion palette, colour bar) | colour series in a 2x2 grid, scrolled together', async () => {
    const started = Date.now();
    await page.goto(`${server.base}/viewer/${aslUid}`);
    await page.waitForFunction(() => [0, 1, 2].every((i) => window.__cirrus?.viewport(i)?.getImageData?.()), null, { timeout: 30000 });
    const painted = Date.now() - started;
    assert((await page.inputValue('[data-testid=layout]')) === '2x2', `layout ${await page.inputValue('[data-testid=layout]')}`);
    assert(await page.isChecked('[data-testid=sync-scroll]'), 'scroll sync is off');
    const shown = await page.evaluate(() => [0, 1, 2].map((i) => window.__cirrus.viewport(i).getCurrentImageId().split('/series/')[1].split('/')[0]));
    const sourceUid = aslSeries.length && shown[0];
    const source = aslSeries.find((s) => s['0020000E'].Value[0] === sourceUid);
    assert(source && (source['00080008']?.Value ?? [])[0] !== 'DERIVED', `pane 1 shows ${JSON.stringify(source?.['0008103E'])}, not the anatomy`);
    assert(shown[1] === cbfUid && shown[2] === colourUid, `panes 2 and 3 show ${shown.slice(1)}, expected the CBF map ${cbfUid} and the colour series ${colourUid}`);
    const colormap = await page.evaluate(() => window.__cirrus.viewport(1).getProperties().colormap?.name);
    assert(colormap === 'cirrus-perfusion', `CBF map palette: ${colormap}`);
    const bar = await page.locator('.vp-pane').nth(1).locator('[data-testid=colour-bar-unit]').textContent();
    assert(bar?.includes('ml/100'), `CBF colour bar unit: ${bar}`);
    // Scrolling the CBF map moves the colour series (same slices) along.
    const index = (i) => page.evaluate((k) => window.__cirrus.viewport(k).getCurrentImageIdIndex(), i);
    const before = [await index(1), await index(2)];
    const b = await box(1);
    await page.mouse.move(b.x + b.width / 2, b.y + b.height / 2);
    for (let k = 0; k < 4; k += 1) await page.mouse.wheel(0, 120);
    await page.waitForTimeout(800);
    const after = [await index(1), await index(2)];
    console.log(`  hanging protocol painted in ${painted} ms; CBF ${before[0]}→${after[0]}, colour ${before[1]}→${after[1]}`);
    assert(after[0] !== before[0], 'the CBF pane did not scroll');
    assert(after[1] - before[1] === after[0] - before[0], `the colour series moved ${after[1] - before[1]}, the CBF map ${after[0] - before[0]}`);
    await page.screenshot({ path: join(ARTIFACTS, 'm04-asl-hanging-protocol.png') });
  });

  await test('no page errors', async () => {
    assert(pageErrors.length === 0, pageErrors.join('\n'));
  });
} catch (e) {
  fail('setup', e);
} finally {
  await browser?.close();
  await server.stop();
  rmSync(work, { recursive: true, force: true });
}
finish('e2e-measure');
