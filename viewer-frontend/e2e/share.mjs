// End-to-end test of the patient share link: a real `cirrus serve`, a generated CT study with an approved
// report (written by the reading workflow's own API), the share dialog on the study list, then the share page
// on a 390×844 phone viewport: the access code, the report, server-rendered slices (swipe, W/L);
// and five wrong codes lock the link. Screenshots go to <repo>/test-artifacts/e2e/share-*.png.
// Prints `e2e share: N passed, M failed` and exits non-zero on any failure.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, devices } from 'playwright-core';
import { ARTIFACTS, PYTHON, assert, jsonCall, runner } from './harness.mjs';
import { CHROMIUM, CHROMIUM_ARGS, listFiles, signIn, startServer, stowFiles } from './server.mjs';

// 12 axial CT slices of a bright disc on a darker background, HU-scaled, made with pydicom.
const CT_STUDY = `
import sys, numpy as np
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian, generate_uid, CTImageStorage
out = sys.argv[1]
study, series = generate_uid(), generate_uid()
yy, xx = np.mgrid[0:96, 0:96]
for i in range(12):
    r = 20 + 2 * i
    img = (((xx - 48) ** 2 + (yy - 48) ** 2) < r * r) * 1100 + 1000 + (xx % 12 == 0) * 200
    m = FileMetaDataset(); m.MediaStorageSOPClassUID = CTImageStorage
    m.MediaStorageSOPInstanceUID = generate_uid(); m.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = Dataset(); ds.file_meta = m; ds.SOPClassUID = CTImageStorage; ds.SOPInstanceUID = m.MediaStorageSOPInstanceUID
    ds.StudyInstanceUID, ds.SeriesInstanceUID, ds.FrameOfReferenceUID = study, series, generate_uid()
    ds.PatientName, ds.PatientID, ds.StudyDate, ds.Modality = "WANG^FANG", "SHARE1", "20261201", "CT"
    ds.StudyDescription, ds.SeriesDescription, ds.SeriesNumber, ds.InstanceNumber = "Head CT", "Axial", 1, i + 1
    ds.ImageOrientationPatient, ds.ImagePositionPatient = [1, 0, 0, 0, 1, 0], [-48, -48, 5 * i]
    ds.PixelSpacing, ds.SliceThickness = [1, 1], 5
    ds.RescaleIntercept, ds.RescaleSlope, ds.WindowCenter, ds.WindowWidth = -1024, 1, 40, 400
    ds.Rows = ds.Columns = 96; ds.SamplesPerPixel = 1; ds.PhotometricInterpretation = "MONOCHROME2"
    ds.BitsAllocated = 16; ds.BitsStored = 16; ds.HighBit = 15; ds.PixelRepresentation = 0
    ds.PixelData = img.astype(np.uint16).tobytes()
    ds.save_as(f"{out}/ct_{i:03d}.dcm", enforce_file_format=True)
print(study)
`;

const { test, fail, finish } = runner();

/** An approved report through the reading workflow: request, lock, write, submit, review, approve. */
async function approveReport(server, studyUid) {
  const req = await jsonCall(server, '/api/reading/requests', {
    method: 'POST', json: { mode: 'self', study_uids: [studyUid], examination: '头颅CT平扫', modality: 'CT' },
  });
  const r = `/api/reading/requests/${req.id}`;
  await jsonCall(server, `${r}/lock`, { method: 'POST', json: {} });
  await jsonCall(server, `${r}/report`, { method: 'PUT', json: { findings: '脑实质密度均匀，未见异常密度影。', impression: '头颅CT平扫未见明显异常。' } });
  await jsonCall(server, `${r}/submit`, { method: 'POST', json: {} });
  await jsonCall(server, `${r}/start-review`, { method: 'POST', json: {} });
  await jsonCall(server, `${r}/approve?lang=zh-CN`, { method: 'POST', json: { comment: '同意' } });
}

/** The image element has decoded a non-empty picture with some bright pixels. */
function imageStats(page) {
  return page.evaluate(() => {
    const img = document.querySelector('[data-testid=share-image]');
    if (!img || !img.complete || !img.naturalWidth) return null;
    const c = document.createElement('canvas');
    c.width = img.naturalWidth;
    c.height = img.naturalHeight;
    const ctx = c.getContext('2d');
    ctx.drawImage(img, 0, 0);
    const d = ctx.getImageData(0, 0, c.width, c.height).data;
    let lit = 0;
    for (let i = 0; i < d.length; i += 4) if (d[i] > 60) lit += 1;
    return { width: c.width, lit, src: img.src };
  });
}

const server = await startServer();
let browser;
try {
  const dir = mkdtempSync(join(tmpdir(), 'cirrus-share-'));
  let studyUid;
  try {
    studyUid = execFileSync(PYTHON, ['-c', CT_STUDY, dir]).toString().trim();
    const { stored } = await stowFiles(server, listFiles(dir));
    assert(stored === 12, `stored ${stored} of 12 slices`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  await approveReport(server, studyUid);

  browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS });
  const pageErrors = [];
  let share = { url: '', code: '' };

  await test('the share dialog creates a link with a code and a QR code', async () => {
    const desktop = await browser.newContext({ viewport: { width: 1280, height: 900 }, locale: 'zh-CN' });
    const page = await desktop.newPage();
    page.on('pageerror', (e) => pageErrors.push(e.message));
    await signIn(page, server);
    await page.goto(`${server.base}/`);
    await page.click(`.study-row[data-study-uid="${studyUid}"] [data-testid=share-study]`);
    await page.waitForSelector('[data-testid=share-dialog]');
    await page.selectOption('[data-testid=share-days]', '7');
    await page.click('[data-testid=share-create]');
    await page.waitForSelector('[data-testid=share-created]');
    await page.waitForFunction(() => document.querySelector('[data-testid=share-qr]')?.naturalWidth > 0, null, { timeout: 10000 });
    share = { url: (await page.textContent('[data-testid=share-url]')).trim(), code: (await page.textContent('[data-testid=share-code]')).trim() };
    assert(/^\d{6}$/.test(share.code), `the code is not six digits: ${share.code}`);
    assert(share.url.startsWith(`${server.base}/s/`), `unexpected link ${share.url}`);
    await page.waitForSelector('[data-share-id]', { timeout: 5000 });
    assert((await page.locator('[data-share-id]').count()) === 1, 'the new link is not listed once');
    await page.screenshot({ path: join(ARTIFACTS, 'share-01-dialog.png') });
    await desktop.close();
  });

  const phone = { ...devices['iPhone 12'], viewport: { width: 390, height: 844 } };
  delete phone.defaultBrowserType;

  await test('on a phone the link asks for the code, then shows the report and the images', async () => {
    const ctx = await browser.newContext({ ...phone, locale: 'zh-CN' });
    const page = await ctx.newPage();
    page.on('pageerror', (e) => pageErrors.push(e.message));
    await page.goto(share.url);
    await page.waitForSelector('[data-testid=share-code-input]');
    assert((await page.locator('.topbar').count()) === 0, 'the archive navigation is shown on the share page');
    await page.screenshot({ path: join(ARTIFACTS, 'share-02-phone-code.png') });
    await page.fill('[data-testid=share-code-input]', share.code);
    await page.click('[data-testid=share-open]');
    await page.waitForSelector('[data-testid=share-impression]', { timeout: 15000 });
    const impression = await page.textContent('[data-testid=share-impression]');
    assert(impression.includes('未见明显异常'), `report impression not shown: ${impression}`);
    await page.waitForSelector('[data-testid=share-pdf]', { timeout: 10000 });
    await page.waitForFunction(() => document.querySelector('[data-testid=share-image]')?.naturalWidth > 0, null, { timeout: 15000 });
    const first = await imageStats(page);
    assert(first && first.lit > 100, `the image is blank: ${JSON.stringify(first)}`);
    const label = await page.textContent('[data-testid=share-slice]');
    assert(label.includes('/ 12'), `slice label: ${label}`);
    await page.screenshot({ path: join(ARTIFACTS, 'share-03-phone-report-image.png'), fullPage: true });
    // A swipe up moves through the slices.
    const box = await page.locator('[data-testid=share-stage]').boundingBox();
    const before = await page.textContent('[data-testid=share-slice]');
    await page.locator('[data-testid=share-stage]').evaluate((el, b) => {
      const touch = (y) => new Touch({ identifier: 1, target: el, clientX: b.x + b.width / 2, clientY: y });
      el.dispatchEvent(new TouchEvent('touchstart', { touches: [touch(b.y + b.height * 0.8)], bubbles: true, cancelable: true }));
      el.dispatchEvent(new TouchEvent('touchmove', { touches: [touch(b.y + b.height * 0.5)], bubbles: true, cancelable: true }));
      el.dispatchEvent(new TouchEvent('touchend', { touches: [], bubbles: true, cancelable: true }));
    }, box);
    await page.waitForFunction((b) => document.querySelector('[data-testid=share-slice]').textContent !== b, before, { timeout: 5000 });
    await page.waitForFunction((src) => document.querySelector('[data-testid=share-image]')?.src !== src, first.src, { timeout: 10000 });
    // A W/L preset renders the slice again, differently.
    const beforeWl = await imageStats(page);
    await page.locator('[data-testid=share-wl]').nth(1).click();
    await page.waitForFunction((src) => document.querySelector('[data-testid=share-image]')?.src !== src, beforeWl.src, { timeout: 10000 });
    await page.waitForFunction(() => document.querySelector('[data-testid=share-image]')?.complete, null, { timeout: 10000 });
    const afterWl = await imageStats(page);
    assert(afterWl && afterWl.lit !== beforeWl.lit, `the W/L preset did not change the picture (${beforeWl.lit} → ${afterWl?.lit})`);
    assert((await page.locator('[data-testid=share-download]').count()) === 0, 'download offered on a link without it');
    await page.screenshot({ path: join(ARTIFACTS, 'share-04-phone-preset.png') });
    await ctx.close();
  });

  await test('five wrong codes lock the link', async () => {
    const ctx = await browser.newContext({ ...phone, locale: 'en-US' });
    const page = await ctx.newPage();
    page.on('pageerror', (e) => pageErrors.push(e.message));
    await page.goto(share.url);
    await page.waitForSelector('[data-testid=share-code-input]');
    const wrong = share.code === '000000' ? '111111' : '000000';
    const seen = [];
    for (let i = 0; i < 5; i++) {
      await page.fill('[data-testid=share-code-input]', wrong);
      const answer = page.waitForResponse((r) => r.url().endsWith('/exchange'));
      await page.click('[data-testid=share-open]');
      seen.push((await answer).status());
      await page.waitForFunction(() => !document.querySelector('[data-testid=share-open]').disabled);
    }
    assert(JSON.stringify(seen) === JSON.stringify([403, 403, 403, 403, 423]), `answers ${seen}`);
    const text = await page.textContent('[data-testid=share-problem]');
    assert(/locked/i.test(text), `the page does not say the link is locked: ${text}`);
    // The right code does not open a locked link.
    await page.fill('[data-testid=share-code-input]', share.code);
    const answer = page.waitForResponse((r) => r.url().endsWith('/exchange'));
    await page.click('[data-testid=share-open]');
    assert((await answer).status() === 423, 'a locked link opened with the right code');
    await page.screenshot({ path: join(ARTIFACTS, 'share-05-phone-locked.png') });
    await ctx.close();
  });

  if (pageErrors.length) console.log(`  page errors seen: ${[...new Set(pageErrors)].join(' | ')}`);
} catch (e) {
  fail('setup', e);
} finally {
  await browser?.close();
  await server.stop();
}

finish('e2e share');
