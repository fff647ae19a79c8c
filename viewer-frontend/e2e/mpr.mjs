// MPR and the toolbar in a real browser on a real server: a synthetic CT volume opens as axial,
// sagittal and coronal panes with pixels in each; a click in the axial pane moves the sagittal and
// coronal planes to that point (crosshairs); a series that is no volume is refused with the reason
// (English and zh-CN); at 1440 px the toolbar is one row and its "more" button opens the rest.
//
//   node e2e/mpr.mjs      (after `npm run build`)
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CHROMIUM, CHROMIUM_ARGS, FRONT_DIR, listFiles, signIn, startServer, stowFiles } from './server.mjs';
import { ARTIFACTS, PYTHON, assert, runner } from './harness.mjs';

const { chromium } = createRequire(join(FRONT_DIR, 'package.json'))('playwright-core');

// A 48-slice 128×128 CT volume: a bright sphere off-centre (so each plane shows a disc where the
// crosshair centre is), and a 1-image CT series in the same study (no volume).
const SYNTH = `
import sys, numpy as np
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian, generate_uid, CTImageStorage
out = sys.argv[1]
study, frame = generate_uid(), generate_uid()
zz, yy, xx = np.mgrid[0:48, 0:128, 0:128]
vol = np.full((48, 128, 128), -1000, np.int16)
vol[((xx - 64) ** 2 + (yy - 64) ** 2) < 55 ** 2] = 40
vol[((xx - 80) ** 2 + (yy - 56) ** 2 + ((zz - 24) * 2.5) ** 2) < 22 ** 2] = 900
def save(series, number, desc, k, img):
    m = FileMetaDataset(); m.MediaStorageSOPClassUID = CTImageStorage
    m.MediaStorageSOPInstanceUID = generate_uid(); m.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = Dataset(); ds.file_meta = m
    ds.SOPClassUID = CTImageStorage; ds.SOPInstanceUID = m.MediaStorageSOPInstanceUID
    ds.StudyInstanceUID, ds.SeriesInstanceUID, ds.FrameOfReferenceUID = study, series, frame
    ds.PatientName, ds.PatientID, ds.StudyDate, ds.Modality = "MPR^TEST", "MPR1", "20240101", "CT"
    ds.StudyDescription, ds.SeriesDescription, ds.SeriesNumber, ds.InstanceNumber = "MPR e2e", desc, number, k + 1
    ds.ImagePositionPatient = [-64, -64, -k * 2.5]; ds.ImageOrientationPatient = [1, 0, 0, 0, 1, 0]
    ds.PixelSpacing = [1, 1]; ds.SliceThickness = 2.5
    ds.Rows = ds.Columns = 128; ds.SamplesPerPixel = 1; ds.PhotometricInterpretation = "MONOCHROME2"
    ds.BitsAllocated = 16; ds.BitsStored = 16; ds.HighBit = 15; ds.PixelRepresentation = 1
    ds.RescaleIntercept, ds.RescaleSlope, ds.WindowCenter, ds.WindowWidth = 0, 1, 40, 400
    ds.PixelData = img.tobytes()
    ds.save_as(f"{out}/{number}-{k:03d}.dcm", enforce_file_format=True)
volume, single = generate_uid(), generate_uid()
for k in range(48):
    save(volume, 1, "CT volume", k, vol[k])
save(single, 2, "CT scout", 0, vol[24])
print(study, volume, single)
`;

const t = runner({ only: process.env.E2E_ONLY });
const work = mkdtempSync(join(tmpdir(), 'cirrus-mpr-'));
let server;
let browser;
try {
  server = await startServer();
  const [studyUid, volumeUid, singleUid] = execFileSync(PYTHON, ['-c', SYNTH, work]).toString().trim().split(' ');
  await stowFiles(server, listFiles(work));
  browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS });
  const ctx = await browser.newContext({ viewport: { width: 1440, height: 900 } });
  const page = await ctx.newPage();
  page.on('pageerror', (e) => console.log(`page error: ${e.message}`));
  page.on('console', (m) => m.type() === 'error' && console.log(`console: ${m.text().slice(0, 300)}`));
  await signIn(page, server);

  const open = async (seriesUid) => {
    await page.goto(`${server.base}/viewer/${studyUid}?series=${seriesUid}`);
    await page.waitForFunction(() => window.__cirrus?.firstImageAt > 0, null, { timeout: 60000 });
  };
  // Lit pixels of each MPR pane's canvas (WebGL canvases are read through a 2-D copy).
  const paneStats = () =>
    page.evaluate(() =>
      [...document.querySelectorAll('.mpr-element')].map((el) => {
        const c = el.querySelector('canvas');
        if (!c || !c.width) return { plane: el.dataset.plane, lit: 0, size: 0 };
        const copy = document.createElement('canvas');
        copy.width = c.width;
        copy.height = c.height;
        const g = copy.getContext('2d');
        g.drawImage(c, 0, 0);
        const d = g.getImageData(0, 0, c.width, c.height).data;
        let lit = 0;
        for (let i = 0; i < d.length; i += 4) if (d[i] + d[i + 1] + d[i + 2] > 60) lit += 1;
        return { plane: el.dataset.plane, lit, size: c.width * c.height };
      }),
    );
  const focal = (plane) => page.evaluate((p) => window.__cirrusMpr?.viewport(p)?.getCamera().focalPoint, plane);

  await t.test('the toolbar is one row at 1440 px; "more" opens the rest and they work', async () => {
    await open(volumeUid);
    const bar = await page.locator('[data-testid=toolbar-bar]').boundingBox();
    assert(bar && bar.height <= 40, `toolbar is ${bar?.height} px tall (wraps)`);
    const hidden = await page.evaluate(() => {
      const box = document.querySelector('[data-testid=toolbar]').getBoundingClientRect();
      return [...document.querySelectorAll('[data-testid=toolbar] > *')].filter((e) => e.getBoundingClientRect().top >= box.bottom - 1).length;
    });
    if (hidden) {
      await page.click('[data-action=toolbar-more]');
      await page.click('[data-action=help]');
      await page.waitForSelector('[data-testid=key-help]', { timeout: 5000 });
      await page.click('[data-action=close-help]');
      await page.click('[data-action=toolbar-more]');
    }
    const after = await page.locator('[data-testid=toolbar-bar]').boundingBox();
    assert(after.height <= 40, `toolbar did not close (${after.height} px)`);
    // Closed again on its first row (a focused control must not leave it scrolled).
    assert((await page.evaluate(() => document.querySelector('[data-testid=toolbar]').scrollTop)) === 0, 'toolbar left scrolled');
    await page.screenshot({ path: join(ARTIFACTS, 'mpr-01-toolbar-1440.png') });
  });

  await t.test('MPR of a CT volume: three panes with pixels, crosshairs move the other planes', async () => {
    await open(volumeUid);
    await page.click('[data-action=mpr]');
    await page.waitForSelector('[data-testid=mpr]');
    await page.waitForFunction(() => window.__cirrusMpr?.viewport('sagittal') || document.querySelector('[data-testid=mpr-error]'), null, { timeout: 60000 });
    const failed = await page.locator('[data-testid=mpr-error]').count();
    assert(!failed, `MPR failed: ${failed && (await page.textContent('[data-testid=mpr-error]'))}`);
    let stats = [];
    for (let tries = 0; tries < 40; tries += 1) {
      stats = await paneStats();
      if (stats.length === 3 && stats.every((s) => s.lit > s.size * 0.02)) break;
      await page.waitForTimeout(500);
    }
    assert(stats.length === 3 && stats.every((s) => s.lit > s.size * 0.02), `blank MPR pane: ${JSON.stringify(stats)}`);
    await page.screenshot({ path: join(ARTIFACTS, 'mpr-02-volume.png') });
    const before = { sagittal: await focal('sagittal'), coronal: await focal('coronal') };
    // Click in the axial pane well right of and above its centre: the sagittal plane (x) and the
    // coronal plane (y) follow the point.
    const box = await page.locator('.mpr-element[data-plane=axial]').boundingBox();
    await page.mouse.click(box.x + box.width * 0.7, box.y + box.height * 0.35);
    await page.waitForTimeout(1500);
    const after = { sagittal: await focal('sagittal'), coronal: await focal('coronal') };
    assert(after.sagittal[0] - before.sagittal[0] > 5, `sagittal plane did not move right: ${before.sagittal} → ${after.sagittal}`);
    assert(before.coronal[1] - after.coronal[1] > 5, `coronal plane did not move up: ${before.coronal} → ${after.coronal}`);
    await page.screenshot({ path: join(ARTIFACTS, 'mpr-03-crosshair.png') });
    await page.click('[data-action=mpr-exit]');
    await page.waitForSelector('[data-testid=mpr]', { state: 'detached' });
    assert(await page.locator('.vp-element').first().isVisible(), 'the stack did not come back');
  });

  await t.test('a series that is no volume is refused with the reason, in English and zh-CN', async () => {
    await open(singleUid);
    await page.click('[data-action=mpr]');
    const text = await page.textContent('[data-testid=mpr-refused]');
    assert(text.includes('MPR needs a volume') && text.includes('1 images'), `refusal: ${text}`);
    assert((await page.locator('[data-testid=mpr]').count()) === 0, 'MPR opened for one image');
    await page.evaluate(() => localStorage.setItem('cirrus.locale', 'zh-CN'));
    await open(singleUid);
    await page.click('[data-action=mpr]');
    const zh = await page.textContent('[data-testid=mpr-refused]');
    assert(zh.includes('无法进行 MPR') && zh.includes('只有 1 幅图像'), `zh-CN refusal: ${zh}`);
    await page.screenshot({ path: join(ARTIFACTS, 'mpr-04-refused-zh.png') });
    await page.evaluate(() => localStorage.setItem('cirrus.locale', 'en'));
  });
} catch (e) {
  t.fail('setup', e, server?.output?.() ?? '');
} finally {
  await browser?.close();
  await server?.stop();
  rmSync(work, { recursive: true, force: true });
}
t.finish('mpr.mjs');
