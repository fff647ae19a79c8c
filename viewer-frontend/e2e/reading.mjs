// End-to-end test of the reading workflow across hospitals (issue 16), with real accounts: the admin makes a
// superior hospital, a primary hospital under it and an unrelated one, and their doctors, over the API. The
// requesting doctor (zh-CN browser) stores a CT study and sends a reading request to the superior hospital
// through the request form; the reporting doctor (another context) finds it in the worklist, takes the lock,
// captures a key image from the viewport beside the editor, writes findings and impression and submits; the
// reviewer returns it with a reason; the reporting doctor fixes it and submits again; the reviewer approves;
// the requesting doctor sees the approved report, its PDF (with the key image), the print view (hospital
// header, key image, QR code and access code of a patient share that opens), and the SR and PDF series
// stored in the study (QIDO-RS). A doctor of the unrelated hospital
// sees neither the request nor the study. Also: the request links a Siemens pCASL study whose ASL job the
// server's worker runs; the reporting doctor inserts its CBF numbers (units, analysis version) and the stored
// SR's NUM items, read back over WADO-RS, equal them; the alliance admin edits the CT head template and sets
// the reading hospital's logo in the browser, the reporting doctor applies the template; saved filter sets
// per user; the requester's worklist follows the lock live (the event stream) with its counts; the print
// view's PDF carries the logo, the share link's QR code and its access code.
// Prints `e2e-reading: N passed, M failed`; screenshots go to <repo>/test-artifacts/e2e/reading-*.png.
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium } from 'playwright-core';
import { ARTIFACTS, PYTHON, assert, jsonCall, runner } from './harness.mjs';
import { CHROMIUM, CHROMIUM_ARGS, SHARED_DATA, apiAs, listFiles, signIn, startServer, stowFiles } from './server.mjs';

const SR_CLASSES = ['1.2.840.10008.5.1.4.1.1.88.22', '1.2.840.10008.5.1.4.1.1.88.33', '1.2.840.10008.5.1.4.1.1.88.34'];
const PDF_CLASS = '1.2.840.10008.5.1.4.1.1.104.1';

// 8 axial CT slices of a disc, HU-scaled, made with pydicom; prints the Study Instance UID.
const CT_STUDY = `
import sys, numpy as np
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian, generate_uid, CTImageStorage
out = sys.argv[1]
study, series, frame = generate_uid(), generate_uid(), generate_uid()
yy, xx = np.mgrid[0:64, 0:64]
for i in range(8):
    img = (((xx - 32) ** 2 + (yy - 32) ** 2) < (12 + i) ** 2) * 1100 + 1000
    m = FileMetaDataset(); m.MediaStorageSOPClassUID = CTImageStorage
    m.MediaStorageSOPInstanceUID = generate_uid(); m.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = Dataset(); ds.file_meta = m; ds.SOPClassUID = CTImageStorage; ds.SOPInstanceUID = m.MediaStorageSOPInstanceUID
    ds.StudyInstanceUID, ds.SeriesInstanceUID, ds.FrameOfReferenceUID = study, series, frame
    ds.PatientName, ds.PatientID, ds.StudyDate, ds.Modality = "LI^MING", "READ1", "20261201", "CT"
    ds.PatientSex, ds.PatientAge = "M", "061Y"
    ds.StudyDescription, ds.SeriesDescription, ds.SeriesNumber, ds.InstanceNumber = "Head CT", "Axial", 1, i + 1
    ds.ImageOrientationPatient, ds.ImagePositionPatient = [1, 0, 0, 0, 1, 0], [-32, -32, 5 * i]
    ds.PixelSpacing, ds.SliceThickness = [1, 1], 5
    ds.RescaleIntercept, ds.RescaleSlope, ds.WindowCenter, ds.WindowWidth = -1024, 1, 40, 80
    ds.Rows = ds.Columns = 64; ds.SamplesPerPixel = 1; ds.PhotometricInterpretation = "MONOCHROME2"
    ds.BitsAllocated = 16; ds.BitsStored = 16; ds.HighBit = 15; ds.PixelRepresentation = 0
    ds.PixelData = img.astype(np.uint16).tobytes()
    ds.save_as(f"{out}/ct_{i:03d}.dcm", enforce_file_format=True)
print(study)
`;

const ASL_STUDY = 'asl/siemens/pcasl3d';
const TEMPLATE_TEXT = '本院头颅CT模板：脑实质密度均匀。';
// A 160×48 PNG logo (a red band with a blue stripe), made with Pillow.
const LOGO = `
import sys
from PIL import Image
img = Image.new("RGB", (160, 48), (190, 20, 30))
for x in range(160):
    for y in range(20, 28):
        img.putpixel((x, y), (20, 40, 200))
img.save(sys.argv[1])
`;

/** The NUM content items of an SR in DICOM JSON (WADO-RS metadata): [name, value, UCUM unit]. */
function srNumbers(ds) {
  const out = [];
  for (const item of ds['0040A730']?.Value ?? []) {
    if (item['0040A040']?.Value?.[0] === 'NUM') {
      const mv = item['0040A300'].Value[0];
      out.push([item['0040A043'].Value[0]['00080104'].Value[0], Number(mv['0040A30A'].Value[0]), mv['004008EA'].Value[0]['00080100'].Value[0]]);
    }
    out.push(...srNumbers(item));
  }
  return out;
}

const FINDINGS = 'Right basal ganglia: a 12 mm hypodense focus. No midline shift. 右侧基底节区低密度灶。';
const FIX = '补充：DWI 未见弥散受限。';
let written = FINDINGS; // the findings as submitted first (with the inserted numbers)
let FIXED = `${FINDINGS}\n${FIX}`;
const RETURN_REASON = '请补充 DWI 所见。';
const IMPRESSION = 'Small lacunar infarct in the right basal ganglia. 右侧基底节区腔隙性脑梗死。';

const { test, fail, finish } = runner();

/** A POST as the harness's admin that must answer 201 Created. */
const adminJson = (server, path, json) => jsonCall(server, path, { method: 'POST', json, expect: 201 });

/** The series of a study as one browser context sees it (its cookies): status and the QIDO-RS rows. */
async function seriesOf(page, base, studyUid) {
  const res = await page.request.get(`${base}/dicom-web/studies/${studyUid}/series?includefield=00080016`, {
    headers: { Accept: 'application/dicom+json' },
  });
  const text = await res.text();
  return { status: res.status(), rows: res.status() === 200 && text ? JSON.parse(text) : [] };
}

const started = Date.now();
const server = await startServer({ workers: 1 });
let browser;
const work = mkdtempSync(join(tmpdir(), 'cirrus-reading-'));
const pageErrors = [];
try {
  // -- accounts, through the real API as the admin ------------------------------------------------------
  const tag = randomBytes(3).toString('hex');
  const superior = await adminJson(server, '/api/institutions', { name: `Provincial Hospital ${tag}` });
  const primary = await adminJson(server, '/api/institutions', { name: `County Hospital ${tag}`, parent_id: superior.id });
  const other = await adminJson(server, '/api/institutions', { name: `Unrelated Hospital ${tag}` });
  const password = `Rd-${randomBytes(9).toString('base64url')}7`;
  const makeUser = async (username, role, institution, display) => {
    const user = await adminJson(server, '/api/users', { username, password, role, institution_id: institution.id, display_name: display });
    return { ...user, username, password, display };
  };
  const requester = await makeUser(`req_${tag}`, 'requesting_doctor', primary, 'Dr Requester');
  const reporter = await makeUser(`rep_${tag}`, 'reporting_doctor', superior, 'Dr Reporter');
  const reviewer = await makeUser(`rev_${tag}`, 'reviewer', superior, 'Dr Reviewer');
  const outsider = await makeUser(`out_${tag}`, 'reporting_doctor', other, 'Dr Outsider');

  // -- the requesting doctor's study, stored under their own account --------------------------------------
  const studyUid = execFileSync(PYTHON, ['-c', CT_STUDY, work]).toString().trim();
  const files = listFiles(work);
  const requesterApi = await apiAs(server, requester);
  const stowed = await stowFiles(requesterApi, files);
  assert(stowed.stored === files.length && stowed.failed === 0, `STOW: ${JSON.stringify(stowed)} of ${files.length}`);
  // The ASL study: its job is detected on arrival and run by the server's worker meanwhile.
  const aslFiles = listFiles(join(SHARED_DATA, ASL_STUDY));
  const aslStowed = await stowFiles(requesterApi, aslFiles);
  assert(aslStowed.stored === aslFiles.length && aslStowed.failed === 0, `ASL STOW: ${JSON.stringify(aslStowed)}`);
  const aslStudyUid = (await jsonCall(requesterApi, '/dicom-web/studies?ModalitiesInStudy=MR')).map((r) => r['0020000D'].Value[0])[0];
  const aslJob = (async () => {
    const deadline = Date.now() + 420000;
    for (;;) {
      const { jobs } = await jsonCall(server, '/api/jobs');
      const job = jobs.find((j) => j.study_instance_uid === aslStudyUid);
      if (job && ['succeeded', 'failed'].includes(job.state)) return jsonCall(server, `/api/jobs/${job.id}`);
      if (Date.now() > deadline) return job;
      await new Promise((r) => setTimeout(r, 1500));
    }
  })();

  browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS });
  const contextFor = async (user, locale) => {
    const context = await browser.newContext({ viewport: { width: 1400, height: 900 }, locale });
    const page = await context.newPage();
    page.on('pageerror', (e) => pageErrors.push(`${user.username}: ${e.message}`));
    await signIn(page, server, user);
    return { context, page };
  };
  const A = await contextFor(requester, 'zh-CN');
  let requestId = 0;
  let number = '';
  let keyShot = { width: 0, height: 0 };

  await test('zh-CN: the requesting doctor sends a reading request to the superior hospital', async () => {
    const { page } = A;
    await page.click('[data-testid=nav-reading]');
    await page.waitForSelector('[data-testid=worklist-tabs]');
    assert((await page.textContent('[data-testid=nav-reading]')).trim() === '诊断工作台', 'nav label is not zh-CN');
    assert((await page.textContent('[data-testid=tab-mine]')).includes('我的申请'), 'the "my requests" tab is not zh-CN');
    await page.click('[data-testid=new-request]');
    await page.waitForSelector('[data-testid=request-form]');
    assert((await page.textContent('[data-testid=request-form] h3')).trim() === '新建申请单', 'form title is not zh-CN');
    await page.selectOption('[data-testid=rf-mode]', 'superior');
    await page.waitForSelector('[data-testid=rf-superior]');
    const offered = await page.locator('[data-testid=rf-superior] option').evaluateAll((os) => os.map((o) => Number(o.value)));
    assert(JSON.stringify(offered) === JSON.stringify([superior.id]), `superior choices ${offered}, expected [${superior.id}]`);
    await page.selectOption('[data-testid=rf-superior]', String(superior.id));
    await page.fill('[data-testid=rf-history]', '高血压病史10年。');
    await page.fill('[data-testid=rf-complaint]', '左侧肢体无力2天。');
    await page.click(`tr[data-study-uid="${studyUid}"] [data-testid=rf-add-study]`);
    await page.waitForFunction(() => document.querySelectorAll('[data-testid=rf-picked] li:not(.muted)').length === 1);
    assert((await page.inputValue('[data-testid=rf-patient]')).includes('LI'), 'the study did not fill in the patient');
    await page.screenshot({ path: join(ARTIFACTS, 'reading-01-request-form-zh.png') });
    const created = page.waitForResponse((r) => r.url().endsWith('/api/reading/requests') && r.request().method() === 'POST');
    await page.click('[data-testid=rf-submit]');
    const res = await created;
    assert(res.status() === 201, `create answered ${res.status()}: ${await res.text()}`);
    const body = await res.json();
    requestId = body.id;
    number = body.number;
    await page.waitForSelector('[data-testid=report-editor] h2');
    assert(new URL(page.url()).pathname === `/reading/${requestId}`, `editor URL ${page.url()}`);
    const heading = await page.textContent('[data-testid=report-editor] h2');
    assert(heading.includes(number) && heading.includes('待报告'), `editor heading: ${heading}`);
    assert(body.reading_institution.id === superior.id && body.requesting_institution.id === primary.id, `routing: ${JSON.stringify(body)}`);
    assert(body.studies.length === 1 && body.studies[0].study_instance_uid === studyUid, 'the study is not linked');
  });

  await test('the requesting doctor links the ASL study; the alliance admin edits the CT head template and sets the reading hospital\'s logo (zh-CN)', async () => {
    assert(requestId && aslStudyUid, 'no request or no ASL study');
    const linked = await jsonCall(requesterApi, `/api/reading/requests/${requestId}/studies`, { method: 'POST', json: { study_uids: [aslStudyUid] } });
    assert(linked.studies.length === 2 && linked.studies[0].study_instance_uid === studyUid, `linked: ${JSON.stringify(linked.studies)}`);
    const context = await browser.newContext({ viewport: { width: 1400, height: 900 }, locale: 'zh-CN' });
    const page = await context.newPage();
    page.on('pageerror', (e) => pageErrors.push(`admin: ${e.message}`));
    await signIn(page, server);
    await page.goto(`${server.base}/admin/templates`);
    const row = page.locator('[data-testid=template-row][data-template-key=ct-head]');
    await row.waitFor({ timeout: 15000 });
    assert((await page.textContent('[data-testid=templates-page] h2')).trim() === '报告模板', 'templates page is not zh-CN');
    for (const key of ['mr-brain-perfusion', 'ct-head', 'ct-chest']) assert(await page.locator(`[data-template-key=${key}]`).count() === 1, `no built-in ${key}`);
    await row.locator('[data-testid=template-edit]').click();
    await page.fill('[data-testid=tf-findings]', TEMPLATE_TEXT);
    const saved = page.waitForResponse((r) => r.url().endsWith('/api/reading/templates/ct-head') && r.request().method() === 'PUT');
    await page.click('[data-testid=tf-save]');
    assert((await saved).status() === 200, 'saving the template failed');
    await page.waitForFunction(() => document.querySelector('[data-template-key=ct-head]')?.textContent.includes('内置（已修改）'));
    await page.screenshot({ path: join(ARTIFACTS, 'reading-00-templates-admin-zh.png'), fullPage: true });
    // The reading hospital's logo, uploaded on the institutions page.
    const logoFile = join(work, 'logo.png');
    execFileSync(PYTHON, ['-c', LOGO, logoFile]);
    await page.goto(`${server.base}/admin/institutions`);
    await page.waitForSelector(`[data-testid=logo-file-${superior.id}]`);
    const put = page.waitForResponse((r) => r.url().endsWith(`/api/institutions/${superior.id}/logo`) && r.request().method() === 'PUT');
    await page.setInputFiles(`[data-testid=logo-file-${superior.id}]`, logoFile);
    assert((await put).status() === 200, 'the logo upload failed');
    await page.waitForFunction((id) => document.querySelector(`[data-testid=logo-img-${id}]`)?.naturalWidth === 160, superior.id, { timeout: 10000 });
    await context.close();
  });

  const B = await contextFor(reporter, 'en-US');

  await test('the reporting doctor finds the request in the worklist, locks it, writes and submits', async () => {
    assert(requestId, 'no request was created');
    const { page } = B;
    // The superior hospital is granted the linked study.
    const granted = await seriesOf(page, server.base, studyUid);
    assert(granted.status === 200 && granted.rows.length === 1, `the reader sees the study's series: ${granted.status} ${granted.rows.length}`);
    await page.goto(`${server.base}/reading?list=to_report`);
    const row = page.locator(`[data-testid=worklist-row][data-request-id="${requestId}"]`);
    await row.waitFor({ timeout: 15000 });
    const cells = await row.textContent();
    assert(cells.includes(primary.name) && cells.includes(superior.name) && cells.includes('To report'), `worklist row: ${cells}`);
    // The requesting doctor watches "my requests": the lock shows up there live (no reload), counts with it.
    await A.page.goto(`${server.base}/reading?list=mine`);
    const watched = A.page.locator(`[data-testid=worklist-row][data-request-id="${requestId}"]`);
    await watched.waitFor({ timeout: 15000 });
    await A.page.waitForSelector('[data-testid=live-state][data-live="1"]', { timeout: 15000 });
    assert((await A.page.textContent('[data-testid=count-mine]')).trim() === '1', `count of my requests: ${await A.page.textContent('[data-testid=count-mine]')}`);
    assert((await watched.textContent()).includes('待报告'), `before the lock: ${await watched.textContent()}`);
    const navigations = [];
    A.page.on('framenavigated', (f) => { if (f === A.page.mainFrame()) navigations.push(f.url()); });
    await row.locator('[data-testid=open-request]').click();
    await page.waitForSelector('[data-testid=act-lock]');
    await page.click('[data-testid=act-lock]');
    await page.waitForSelector('[data-testid=lock-indicator].mine');
    await A.page.waitForFunction((rid) => document.querySelector(`[data-testid=worklist-row][data-request-id="${rid}"]`)?.textContent.includes('报告中'), requestId, { timeout: 20000 });
    assert(navigations.length === 0, `the requester's page navigated: ${navigations}`);
    await A.page.screenshot({ path: join(ARTIFACTS, 'reading-02a-live-lock-zh.png') });
    // The admin's CT head template, offered first for a CT request, applied.
    await page.waitForSelector('[data-testid=template-select]');
    const offeredTemplates = await page.locator('[data-testid=template-select] option').evaluateAll((os) => os.map((o) => o.value));
    assert(offeredTemplates.includes('ct-head') && !offeredTemplates.includes('mr-brain-perfusion'), `templates offered: ${offeredTemplates}`);
    await page.selectOption('[data-testid=template-select]', 'ct-head');
    await page.click('[data-testid=apply-template]');
    assert((await page.inputValue('[data-testid=findings]')).includes(TEMPLATE_TEXT), 'the template was not applied');
    assert((await page.locator('[data-testid=findings]').getAttribute('readonly')) === null, 'findings stay read-only under the lock');
    // A key image: the study is shown beside the editor; the capture is the viewport as seen.
    await page.waitForFunction(() => { const c = document.querySelector('[data-testid=key-viewport] canvas'); return !!c && c.width > 0; }, null, { timeout: 30000 });
    await page.waitForSelector('[data-testid=capture-key]:not([disabled])', { timeout: 30000 });
    await page.waitForTimeout(1000);
    const posted = page.waitForResponse((r) => r.url().endsWith(`/api/reading/requests/${requestId}/key-images`));
    await page.click('[data-testid=capture-key]');
    const shotRes = await posted;
    assert(shotRes.status() === 201, `key image answered ${shotRes.status()}: ${await shotRes.text()}`);
    keyShot = await shotRes.json();
    await page.waitForSelector('[data-testid=key-image]');
    const lit = await page.locator('[data-testid=key-image]').first().evaluate(async (img) => {
      await img.decode();
      const c = document.createElement('canvas');
      c.width = img.naturalWidth;
      c.height = img.naturalHeight;
      const g = c.getContext('2d');
      g.drawImage(img, 0, 0);
      const d = g.getImageData(0, 0, c.width, c.height).data;
      let n = 0;
      for (let i = 0; i < d.length; i += 4) if (d[i] > 40) n += 1;
      return n / (c.width * c.height);
    });
    assert(lit > 0.02, `the captured key image is blank (${lit})`);
    await page.fill('[data-testid=findings]', FINDINGS);
    await page.fill('[data-testid=impression]', IMPRESSION);
    // The ASL analysis's numbers, inserted as text with their units and the analysis version.
    const job = await aslJob;
    assert(job?.state === 'succeeded', `ASL job: ${JSON.stringify(job)}`);
    await page.click('[data-testid=insert-quant]');
    await page.waitForSelector('[data-testid=measurements]');
    written = await page.inputValue('[data-testid=findings]');
    FIXED = `${written}\n${FIX}`;
    assert(new RegExp(`ASL analysis job ${job.id} v${job.version}`).test(written), `no analysis version in the findings: ${written}`);
    const cbfLine = written.split('\n').find((l) => l.startsWith('CBF whole brain: '));
    assert(cbfLine && / ml\/100g\/min$/.test(cbfLine), `CBF line: ${cbfLine}`);
    const wholeBrain = job.statistics?.whole_brain?.mean;
    assert(Math.abs(Number(cbfLine.split(' ')[3]) - wholeBrain) < 0.01, `inserted ${cbfLine}, job says ${wholeBrain}`);
    // Autosave writes a version before the submit.
    await page.waitForFunction(() => /Saved as version \d+/.test(document.querySelector('[data-testid=autosave]')?.textContent ?? ''), null, { timeout: 10000 });
    // The holder of a live lock is not offered to take it over.
    const offered = await page.locator('[data-testid=actions] button').evaluateAll((bs) => bs.map((b) => b.dataset.testid));
    assert(JSON.stringify(offered) === JSON.stringify(['act-release', 'act-submit']), `actions under a live lock: ${offered}`);
    await page.screenshot({ path: join(ARTIFACTS, 'reading-02-editor-locked-en.png'), fullPage: true });
    // The requesting hospital sees who holds the lock, by the doctor's name (zh-CN).
    await A.page.goto(`${server.base}/reading?list=mine`);
    const mine = A.page.locator(`[data-testid=worklist-row][data-request-id="${requestId}"]`);
    await mine.waitFor({ timeout: 15000 });
    const holder = await mine.locator('[data-testid=lock-holder]').textContent();
    assert(holder.includes(reporter.display) && (await mine.textContent()).includes('报告中'), `lock column at the requester: ${holder}`);
    await page.click('[data-testid=act-submit]');
    await page.waitForFunction(() => document.querySelector('[data-testid=report-editor] h2')?.textContent.includes('Reported'), null, { timeout: 15000 });
    assert((await page.locator('[data-testid=act-approve]').count()) === 0, 'a reporting doctor is offered approve');
  });

  await test('saved filter sets are the user\'s own and open the worklist as saved', async () => {
    const { page } = B;
    await page.goto(`${server.base}/reading?list=all`);
    await page.waitForSelector('[data-testid=saved-filters]');
    await page.fill('[data-testid=filter-q]', number);
    await page.click('[data-testid=worklist-filters] button[type=submit]');
    await page.waitForFunction(() => document.querySelectorAll('[data-testid=worklist-row]').length === 1);
    await page.fill('[data-testid=saved-name]', 'This number');
    const saved = page.waitForResponse((r) => r.url().endsWith('/api/reading/filters') && r.request().method() === 'POST');
    await page.click('[data-testid=saved-save]');
    assert((await saved).status() === 201, 'saving the filter set failed');
    // Another filter, then the saved set again after a reload.
    await page.goto(`${server.base}/reading?list=cancelled`);
    await page.waitForSelector('[data-testid=saved-select] option:nth-child(2)', { state: 'attached' });
    assert((await page.locator('[data-testid=worklist-row]').count()) === 0, 'the cancelled list is not empty');
    const setId = await page.locator('[data-testid=saved-select] option', { hasText: 'This number' }).getAttribute('value');
    await page.selectOption('[data-testid=saved-select]', setId);
    await page.waitForFunction((rid) => document.querySelectorAll('[data-testid=worklist-row]').length === 1
      && document.querySelector(`[data-testid=worklist-row][data-request-id="${rid}"]`), requestId, { timeout: 15000 });
    assert((await page.inputValue('[data-testid=filter-q]')) === number, 'the saved keyword was not restored');
    assert(new URL(page.url()).searchParams.get('list') === 'all', `list after opening the set: ${page.url()}`);
    await page.screenshot({ path: join(ARTIFACTS, 'reading-03a-saved-filter-en.png') });
    const theirs = await jsonCall(await apiAs(server, reviewer), '/api/reading/filters');
    assert(theirs.filters.length === 0, `the reviewer sees another user's sets: ${JSON.stringify(theirs)}`);
  });

  const R = await contextFor(reviewer, 'en-US');

  await test('the reviewer returns the report with a reason; the reporting doctor fixes it and submits again', async () => {
    const { page } = R;
    await page.goto(`${server.base}/reading/${requestId}`);
    await page.waitForSelector('[data-testid=act-start_review]');
    await page.click('[data-testid=act-start_review]');
    await page.waitForSelector('[data-testid=act-return]');
    await page.click('[data-testid=act-return]');  // without a reason: refused in the page
    assert((await page.textContent('[data-testid=editor-error]')).length > 0, 'return without a reason was not refused');
    await page.fill('[data-testid=reason]', RETURN_REASON);
    await page.click('[data-testid=act-return]');
    await page.waitForFunction(() => document.querySelector('[data-testid=report-editor] h2')?.textContent.includes('Returned'), null, { timeout: 15000 });
    // The reporting doctor sees the reason, locks again, fixes the findings and submits.
    const { page: rep } = B;
    await rep.goto(`${server.base}/reading?list=all`);
    const row = rep.locator(`[data-testid=worklist-row][data-request-id="${requestId}"]`);
    await row.waitFor({ timeout: 15000 });
    assert((await row.textContent()).includes('Returned'), `worklist row after return: ${await row.textContent()}`);
    await row.locator('[data-testid=open-request]').click();
    await rep.waitForSelector('[data-testid=editor-reason]');
    assert((await rep.textContent('[data-testid=editor-reason]')).includes(RETURN_REASON), 'the return reason is not shown');
    await rep.click('[data-testid=act-lock]');
    await rep.waitForSelector('[data-testid=lock-indicator].mine');
    assert((await rep.locator('[data-testid=key-image]').count()) === 1, 'the key image was lost by the return');
    assert((await rep.inputValue('[data-testid=findings]')) === written, 'the returned report lost its findings');
    await rep.fill('[data-testid=findings]', FIXED);
    await rep.click('[data-testid=act-submit]');
    await rep.waitForFunction(() => document.querySelector('[data-testid=report-editor] h2')?.textContent.includes('Reported'), null, { timeout: 15000 });
    const events = await rep.textContent('[data-testid=events]');
    for (const want of ['Return to reporter', RETURN_REASON, 'Start reporting (lock)']) assert(events.includes(want), `event log lacks ${want}: ${events}`);
    const versions = await rep.textContent('[data-testid=versions]');
    assert(versions.includes('returned') && versions.includes(RETURN_REASON), `versions: ${versions}`);
    await rep.screenshot({ path: join(ARTIFACTS, 'reading-03-fixed-resubmitted-en.png'), fullPage: true });
  });

  await test('the reviewer starts the review and approves', async () => {
    const { page } = R;
    await page.goto(`${server.base}/reading?list=review`);
    const row = page.locator(`[data-testid=worklist-row][data-request-id="${requestId}"]`);
    await row.waitFor({ timeout: 15000 });
    await row.locator('[data-testid=open-request]').click();
    await page.waitForSelector('[data-testid=act-start_review]');
    assert((await page.inputValue('[data-testid=findings]')) === FIXED, 'the reviewer does not see the fixed findings');
    await page.click('[data-testid=act-start_review]');
    await page.waitForSelector('[data-testid=act-approve]');
    await page.fill('[data-testid=reason]', 'Agreed.');
    const approved = page.waitForResponse((r) => r.url().includes(`/api/reading/requests/${requestId}/approve`));
    await page.click('[data-testid=act-approve]');
    const res = await approved;
    assert(res.status() === 200, `approve answered ${res.status()}: ${await res.text()}`);
    await page.waitForSelector('[data-testid=signed]', { timeout: 15000 });
    const signed = await page.textContent('[data-testid=signed]');
    assert(signed.includes(reviewer.display), `signed line: ${signed}`);
    await page.screenshot({ path: join(ARTIFACTS, 'reading-04-approved-reviewer-en.png'), fullPage: true });
    const events = await page.textContent('[data-testid=events]');
    assert(events.split('Submit report').length - 1 === 2 && events.includes('Return to reporter') && events.includes('Approve'), `event log: ${events}`);
  });

  await test('zh-CN: the requesting doctor sees the approved report, its PDF, and the SR and PDF in the study', async () => {
    const { page } = A;
    await page.goto(`${server.base}/reading?list=mine`);
    const row = page.locator(`[data-testid=worklist-row][data-request-id="${requestId}"]`);
    await row.waitFor({ timeout: 15000 });
    assert((await row.textContent()).includes('已审核'), `state in my requests: ${await row.textContent()}`);
    await row.locator('[data-testid=open-request]').click();
    await page.waitForSelector('[data-testid=signed]', { timeout: 15000 });
    assert((await page.inputValue('[data-testid=findings]')) === FIXED, 'findings differ');
    assert((await page.inputValue('[data-testid=impression]')) === IMPRESSION, 'impression differs');
    assert((await page.textContent('[data-testid=report-editor] h2')).includes('已审核'), 'heading does not say 已审核');
    assert((await page.textContent('[data-testid=signed]')).includes('审核'), 'signed line is not zh-CN');
    assert((await page.locator('[data-testid=actions] button').count()) === 0, 'the requester is offered actions on an approved report');
    const events = await page.textContent('[data-testid=events]');
    assert(events.includes('提交报告') && events.includes('审核通过') && !/ · (submit|approve) /.test(events), `event log not in zh-CN: ${events}`);
    assert((await page.locator('[data-testid=reason]').count()) === 0, 'a comment box is offered without any action');
    await page.screenshot({ path: join(ARTIFACTS, 'reading-05-approved-requester-zh.png'), fullPage: true });
    const href = await page.getAttribute('[data-testid=print-pdf]', 'href');
    const pdf = await page.request.get(new URL(href, server.base).toString());
    const bytes = await pdf.body();
    assert(pdf.status() === 200 && bytes.subarray(0, 5).toString() === '%PDF-', `report PDF: ${pdf.status()} ${pdf.headers()['content-type']}`);
    writeFileSync(join(ARTIFACTS, 'reading-report.pdf'), bytes);
    const text = execFileSync('pdftotext', [join(ARTIFACTS, 'reading-report.pdf'), '-']).toString();
    for (const want of [number, '右侧基底节区腔隙性脑梗死', 'DWI', reporter.display, reviewer.display]) assert(text.includes(want), `the PDF lacks ${want}:\n${text}`);
    // The key image is in the PDF at the capture's own size, and the page is rendered to be looked at.
    const images = execFileSync('pdfimages', ['-list', join(ARTIFACTS, 'reading-report.pdf')]).toString().split('\n').slice(2).filter((l) => l.trim()).map((l) => l.trim().split(/\s+/));
    assert(images.some((r) => Number(r[3]) === keyShot.width && Number(r[4]) === keyShot.height), `PDF images ${JSON.stringify(images)}, capture ${keyShot.width}×${keyShot.height}`);
    execFileSync('pdftoppm', ['-png', '-r', '70', '-f', '1', '-l', '1', join(ARTIFACTS, 'reading-report.pdf'), join(ARTIFACTS, 'reading-report-page')]);
    const { status, rows } = await seriesOf(page, server.base, studyUid);
    const modalities = rows.map((r) => r['00080060']?.Value?.[0]).sort();
    assert(status === 200 && modalities.includes('SR') && modalities.includes('DOC') && modalities.includes('CT'), `series of the study: ${status} ${modalities}`);
    // The stored objects are the approved version's SR and PDF.
    const detail = await (await page.request.get(`${server.base}/api/reading/requests/${requestId}`)).json();
    const version = detail.versions.find((v) => v.status === 'approved');
    assert(version?.sr_sop_instance_uid && version?.pdf_sop_instance_uid, `approved version: ${JSON.stringify(version)}`);
    const instances = await page.request.get(`${server.base}/dicom-web/studies/${studyUid}/instances?includefield=00080016`, { headers: { Accept: 'application/dicom+json' } });
    const byUid = Object.fromEntries((await instances.json()).map((r) => [r['00080018'].Value[0], r['00080016']?.Value?.[0]]));
    assert(SR_CLASSES.includes(byUid[version.sr_sop_instance_uid]), `SR instance class ${byUid[version.sr_sop_instance_uid]}`);
    assert(byUid[version.pdf_sop_instance_uid] === PDF_CLASS, `PDF instance class ${byUid[version.pdf_sop_instance_uid]}`);
    // The SR's numbers, read back over WADO-RS, are the inserted ones (names, values, UCUM units).
    const srSeries = rows.find((r) => r['00080060']?.Value?.[0] === 'SR')['0020000E'].Value[0];
    const meta = await page.request.get(`${server.base}/dicom-web/studies/${studyUid}/series/${srSeries}/instances/${version.sr_sop_instance_uid}/metadata`, { headers: { Accept: 'application/dicom+json' } });
    assert(meta.status() === 200, `SR metadata: ${meta.status()}`);
    const numbers = srNumbers((await meta.json())[0]);
    const expected = version.measurements.map((m) => [m.name, m.value, m.unit]);
    assert(expected.length >= 1 && JSON.stringify(numbers) === JSON.stringify(expected), `SR numbers ${JSON.stringify(numbers)}, report ${JSON.stringify(expected)}`);
    const whole = numbers.find((n) => n[0] === 'CBF whole brain');
    assert(whole && FIXED.includes(`CBF whole brain: ${whole[1]} ml/100g/min`), `the SR's whole-brain CBF ${whole} is not the text's`);
  });

  await test('zh-CN and English: the print view has the hospital header, the report, the key image and a patient share that opens', async () => {
    const { page } = A;
    await page.goto(`${server.base}/reading/${requestId}`);
    await page.waitForSelector('[data-testid=print-view]');
    await page.click('[data-testid=print-view]');
    await page.waitForSelector('[data-testid=print-header]');
    assert((await page.textContent('[data-testid=print-hospital]')).includes(superior.name), 'no hospital header');
    assert((await page.textContent('[data-testid=print-page]')).includes('影像诊断报告'), 'print view is not zh-CN');
    assert((await page.textContent('[data-testid=print-findings]')).includes(FIX), 'print view findings');
    assert((await page.textContent('[data-testid=print-sign]')).includes(reviewer.display), 'print view signatures');
    const keyOk = await page.locator('[data-testid=print-key-image]').evaluate(async (img) => { await img.decode(); return img.naturalWidth; });
    assert(keyOk === keyShot.width, `print key image width ${keyOk}`);
    const made = page.waitForResponse((r) => r.url().endsWith(`/api/studies/${studyUid}/shares`) && r.request().method() === 'POST');
    await page.click('[data-testid=make-share]');
    const share = await (await made).json();
    await page.waitForSelector('[data-testid=print-qr]');
    const qr = await page.locator('[data-testid=print-qr]').evaluate(async (img) => { await img.decode(); return img.naturalWidth; });
    const code = (await page.textContent('[data-testid=print-code]')).trim();
    assert(qr > 20 && code === share.code && code.length >= 4, `QR ${qr}, code ${code}`);
    // The printed code opens the share (the patient's side, no account).
    const opened = await fetch(`${server.base}/api/shares/${share.id}/exchange`, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ code }) });
    assert(opened.status === 200, `exchange with the printed code answered ${opened.status}`);
    // The reading hospital's logo in the header, and the PDF of this view with the QR code and the code.
    const logoWidth = await page.locator('[data-testid=print-logo]').evaluate(async (img) => { await img.decode(); return img.naturalWidth; });
    assert(logoWidth === 160, `print logo width ${logoWidth}`);
    const made2 = page.waitForResponse((r) => r.url().includes(`/api/reading/requests/${requestId}/report.pdf`) && r.request().method() === 'POST');
    const popup = page.context().waitForEvent('page', { timeout: 15000 }).catch(() => null);
    await page.click('[data-testid=share-pdf]');
    const pdfRes = await made2;
    assert(pdfRes.status() === 200, `PDF with the share answered ${pdfRes.status()}`);
    // The same request again (the browser's answer went to a blob URL): the requester's session, the same body.
    const sent = pdfRes.request().postDataJSON();
    assert(sent.share === share.id && sent.code === code, `the page sent ${JSON.stringify(sent)}`);
    const again = await requesterApi.fetch(`/api/reading/requests/${requestId}/report.pdf?lang=zh-CN`, {
      method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(sent) });
    assert(again.status === 200, `PDF with the share answered ${again.status}`);
    const sharePdf = join(ARTIFACTS, 'reading-report-share.pdf');
    writeFileSync(sharePdf, Buffer.from(await again.arrayBuffer()));
    const shareText = execFileSync('pdftotext', [sharePdf, '-']).toString();
    assert(shareText.includes(code) && shareText.includes('访问码') && shareText.replace(/\s/g, '').includes(share.url), `the PDF lacks the code or the link:\n${shareText}`);
    const pdfImgs = execFileSync('pdfimages', ['-list', sharePdf]).toString().split('\n').slice(2).filter((l) => l.trim()).map((l) => l.trim().split(/\s+/).map(Number));
    assert(pdfImgs.some((r) => r[3] === 160 && r[4] === 48), `no logo in the PDF: ${JSON.stringify(pdfImgs)}`);
    assert(pdfImgs.some((r) => r[3] === r[4] && r[3] > 20 && r[3] !== keyShot.width), `no QR code in the PDF: ${JSON.stringify(pdfImgs)}`);
    execFileSync('pdftoppm', ['-png', '-r', '70', '-f', '1', '-l', '1', sharePdf, join(ARTIFACTS, 'reading-report-share-page')]);
    (await popup)?.close();
    await page.emulateMedia({ media: 'print' });
    assert(!(await page.isVisible('[data-testid=print-now]')), 'the print button is printed');
    await page.screenshot({ path: join(ARTIFACTS, 'reading-06-print-zh.png'), fullPage: true });
    await page.emulateMedia({ media: 'screen' });
    const { page: en } = R;
    await en.goto(`${server.base}/reading/${requestId}/print`);
    await en.waitForSelector('[data-testid=print-header]');
    assert((await en.textContent('[data-testid=print-page]')).includes('Diagnostic imaging report'), 'print view is not English');
    await en.waitForFunction(() => document.querySelector('[data-testid=print-key-image]')?.complete);
    await en.screenshot({ path: join(ARTIFACTS, 'reading-07-print-en.png'), fullPage: true });
  });

  await test('a doctor of an unrelated hospital sees neither the request nor the study', async () => {
    const C = await contextFor(outsider, 'en-US');
    const { page } = C;
    await page.goto(`${server.base}/reading?list=all`);
    await page.waitForSelector('[data-testid=worklist-tabs]');
    await page.waitForLoadState('networkidle');
    assert((await page.locator('[data-testid=worklist-row]').count()) === 0, 'the outsider\'s worklist lists requests');
    const direct = await page.request.get(`${server.base}/api/reading/requests/${requestId}`);
    assert(direct.status() === 404, `GET the request answered ${direct.status()}`);
    const pdf = await page.request.get(`${server.base}/api/reading/requests/${requestId}/report.pdf`);
    assert(pdf.status() === 404, `GET the report PDF answered ${pdf.status()}`);
    const series = await seriesOf(page, server.base, studyUid);
    assert(series.status === 404 || series.rows.length === 0, `the outsider sees the study's series: ${series.status} ${series.rows.length}`);
    const search = await page.request.get(`${server.base}/dicom-web/studies?StudyInstanceUID=${studyUid}`, { headers: { Accept: 'application/dicom+json' } });
    const found = search.status() === 200 && (await search.text()) ? await search.json() : [];
    assert(found.length === 0, `QIDO finds the study for the outsider: ${found.length}`);
    const meta = await page.request.get(`${server.base}/dicom-web/studies/${studyUid}/metadata`);
    assert(meta.status() === 404, `WADO metadata answered ${meta.status()}`);
    // The editor page of the request says it does not exist, not a report.
    await page.goto(`${server.base}/reading/${requestId}`);
    await page.waitForSelector('[data-testid=editor-error]', { timeout: 10000 });
    assert((await page.locator('[data-testid=findings]').count()) === 0, 'the editor shows a report to the outsider');
    await page.screenshot({ path: join(ARTIFACTS, 'reading-08-outsider.png') });
    await C.context.close();
  });

  await test('no page errors in any browser context', async () => {
    assert(pageErrors.length === 0, `page errors: ${pageErrors.join('; ')}`);
  });
  for (const c of [A, B, R]) await c.context.close();
} catch (e) {
  fail('setup', e, server.output());
} finally {
  await browser?.close();
  await server.stop();
  rmSync(work, { recursive: true, force: true });
}
finish('e2e-reading', ` (${((Date.now() - started) / 1000).toFixed(1)} s)`);
