// End-to-end tests of the browser app: a real `cirrus serve`, real DICOM from ../shared/data loaded over
// STOW-RS, Debian's chromium driven by playwright-core. Screenshots go to <repo>/test-artifacts/e2e/.
// Prints `e2e: N passed, M failed` and exits non-zero on any failure.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium } from 'playwright-core';
import { ARTIFACTS, PYTHON, assert, runner } from './harness.mjs';
import { CHROMIUM, CHROMIUM_ARGS, SHARED_DATA, listFiles, signIn, startServer, stowFiles } from './server.mjs';
import { CROSS_SERIES } from './fixtures.mjs';

// Loaded before the browser starts; the transfer-syntax study is uploaded through the page instead.
const PRELOADED = ['asl/siemens/pcasl3d', 'asl/philips/201_pCASL'];
const UPLOADED = 'transfer-syntaxes';
const isDicomName = (f) => !/(LICENSE|\.md|\.json|\.tsv)$/i.test(f);

// An axial and a sagittal series in one Frame of Reference, for reference lines (made with pydicom).

const { test, fail, finish } = runner();

/** Pixel statistics of the first viewport's canvas (cornerstone draws its output into a 2-D canvas). */
function canvasStats(page, selector = '.vp-element canvas.cornerstone-canvas') {
  return page.evaluate((sel) => {
    const c = document.querySelector(sel);
    if (!c) return null;
    const ctx = c.getContext('2d');
    if (!ctx) return null;
    const d = ctx.getImageData(0, 0, c.width, c.height).data;
    let lit = 0;
    let sum = 0;
    let hash = 0;
    for (let i = 0; i < d.length; i += 4) {
      const v = d[i] + d[i + 1] + d[i + 2];
      sum += v;
      if (v > 30) lit += 1;
      hash = (hash * 31 + v) | 0;
    }
    return { width: c.width, height: c.height, lit, mean: sum / ((d.length / 4) * 3), hash };
  }, selector);
}

// One in-process analysis worker, so the queue has a job to show (the ASL study is analysed).
const server = await startServer({ workers: 1 });
let browser;
try {
  // The app needs QIDO-RS; until the server has it there is nothing meaningful to drive.
  const probe = await server.fetch('/dicom-web/studies?limit=1');
  if (probe.status === 404 || probe.status === 405) {
    await server.stop();
    console.log('skip - all: the server has no QIDO-RS /studies yet');
    console.log('e2e: 0 passed, 0 failed, 8 skipped');
    process.exit(0);
  }
  const expected = {};
  for (const dir of PRELOADED) {
    const files = listFiles(join(SHARED_DATA, dir)).filter(isDicomName);
    const { stored, failed } = await stowFiles(server, files);
    assert(failed === 0 && stored === files.length, `loading ${dir}: stored ${stored}, failed ${failed}`);
    expected[dir] = files.length;
  }
  const crossDir = mkdtempSync(join(tmpdir(), 'cirrus-xref-'));
  try {
    execFileSync(PYTHON, ['-c', CROSS_SERIES, crossDir]);
    const { stored } = await stowFiles(server, listFiles(crossDir));
    assert(stored === 41, `cross-reference series and SR: stored ${stored} of 41`);
  } finally {
    rmSync(crossDir, { recursive: true, force: true });
  }
  // Patient names of the preloaded studies, read from the files themselves (not hard-coded).
  const names = await (await server.fetch('/dicom-web/studies?includefield=00100010')).json().catch(() => []);
  const qidoWorks = Array.isArray(names) && names.length > 0;

  browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS });
  const desktop = await browser.newContext({ viewport: { width: 1440, height: 900 }, locale: 'en-US' });
  const page = await desktop.newPage();
  const pageErrors = [];
  page.on('pageerror', (e) => pageErrors.push(e.message));

  // The one real browser login of this run: every later test reuses this context's session cookie.
  await test('signing in: a wrong password is refused, the right one opens the study list', async () => {
    if (!server.auth) return { skip: 'the server has no accounts yet' };
    await page.goto(`${server.base}/analysis`);
    await page.waitForSelector('[data-testid=login-form]', { timeout: 15000 });
    const asked = new URL(page.url());
    assert(asked.pathname === '/login' && asked.searchParams.get('next') === '/analysis', `not sent to login: ${page.url()}`);
    await page.fill('input[name=username]', server.admin.username);
    await page.fill('input[name=password]', `${server.admin.password}-wrong`);
    await page.click('[data-testid=login-submit]');
    const error = page.locator('[data-testid=login-error]');
    await error.waitFor({ timeout: 10000 });
    assert((await error.textContent()).includes('Wrong username or password'), `error shown: ${await error.textContent()}`);
    await page.screenshot({ path: join(ARTIFACTS, '00-login-wrong-password.png') });
    await page.fill('input[name=password]', server.admin.password);
    await page.click('[data-testid=login-submit]');
    await page.waitForSelector('[data-testid=current-user]', { timeout: 15000 });
    assert(new URL(page.url()).pathname === '/analysis', `after login at ${page.url()}, not the page asked for`);
    assert((await page.getAttribute('[data-testid=current-user]', 'data-username')) === server.admin.username, 'no user in the header');
    assert((await page.textContent('[data-testid=current-institution]')).trim() !== '', 'no institution in the header');
    const cookie = (await desktop.cookies()).find((c) => c.name === 'cirrus_session');
    assert(cookie && cookie.httpOnly && cookie.sameSite === 'Lax', `session cookie: ${JSON.stringify(cookie)}`);
    assert(!(await page.evaluate(() => document.cookie)).includes('cirrus_session'), 'session cookie readable from script');
    await page.screenshot({ path: join(ARTIFACTS, '00b-signed-in.png') });
  });

  await test('study list shows the loaded studies', async () => {
    assert(qidoWorks, 'QIDO-RS /studies returned no studies');
    await page.goto(`${server.base}/`);
    await page.waitForSelector('.study-row', { timeout: 15000 });
    const rows = await page.locator('.study-row').count();
    assert(rows === names.length, `expected ${names.length} rows, saw ${rows}`);
    const text = await page.textContent('[data-testid=study-table]');
    for (const s of names) {
      const pn = s['00100010']?.Value?.[0]?.Alphabetic?.replace(/\^+/g, ' ').trim();
      if (pn) assert(text.includes(pn), `patient ${pn} missing from the list`);
    }
    await page.screenshot({ path: join(ARTIFACTS, '01-study-list.png') });
    // Switching language re-renders the page in Chinese, and back.
    await page.selectOption('[data-testid=locale]', 'zh-CN');
    assert((await page.textContent('[data-testid=nav-studies]')) === '检查列表', 'navigation not translated');
    await page.screenshot({ path: join(ARTIFACTS, '02-study-list-zh.png') });
    await page.selectOption('[data-testid=locale]', 'en');
    // A wildcard search narrows the list to the matching patient.
    const first = names[0]['00100010']?.Value?.[0]?.Alphabetic ?? '';
    if (first.length >= 3) {
      await page.fill('input[name=patientName]', `*${first.slice(1, 3)}*`);
      await page.click('[data-testid=search-button]');
      await page.waitForFunction((n) => document.querySelectorAll('.study-row').length <= n, names.length);
      const shown = await page.textContent('[data-testid=study-table]');
      assert(shown.includes(first.replace(/\^+/g, ' ').trim()), 'wildcard search lost the matching study');
      await page.fill('input[name=patientName]', '');
      await page.click('[data-testid=search-button]');
    }
  });

  let studyUid = '';
  await test('opening a study paints non-blank pixels in the viewport', async () => {
    await page.goto(`${server.base}/`);
    await page.waitForSelector('.study-row');
    studyUid = await page.getAttribute('.study-row >> nth=0', 'data-study-uid');
    await page.click('.study-row >> nth=0');
    await page.waitForFunction(() => window.__cirrus?.firstImageAt > 0, null, { timeout: 20000 });
    const opened = await page.evaluate(() => window.__cirrus.firstImageAt - window.__cirrus.openedAt);
    // The render event can precede the canvas update by a frame or two on a loaded machine.
    let stats = await canvasStats(page);
    for (let i = 0; i < 25 && stats && stats.lit <= stats.width * stats.height * 0.01; i++) {
      await page.waitForTimeout(200);
      stats = await canvasStats(page);
    }
    assert(stats, 'no 2-D viewport canvas');
    assert(stats.lit > stats.width * stats.height * 0.01, `canvas nearly blank: ${JSON.stringify(stats)}`);
    console.log(`  first image ${Math.round(opened)} ms after the viewer opened; lit pixels ${stats.lit}`);
    await page.screenshot({ path: join(ARTIFACTS, '03-viewer.png') });
  });

  await test('dragging window/level changes the pixels', async () => {
    const before = await canvasStats(page);
    const wlBefore = await page.textContent('.vp-info.bottom-right');
    const box = await page.locator('.vp-element').first().boundingBox();
    await page.mouse.move(box.x + box.width / 2, box.y + box.height / 2);
    await page.mouse.down();
    await page.mouse.move(box.x + box.width / 2 + 120, box.y + box.height / 2 + 80, { steps: 10 });
    await page.mouse.up();
    await page.waitForTimeout(300);
    const after = await canvasStats(page);
    const wlAfter = await page.textContent('.vp-info.bottom-right');
    assert(after.hash !== before.hash && Math.abs(after.mean - before.mean) > 0.5, `pixels unchanged: ${JSON.stringify({ before, after })}`);
    assert(wlAfter !== wlBefore, `W/L readout unchanged (${wlAfter})`);
    // Wheel scrolls the stack.
    const indexBefore = await page.textContent('[data-testid=image-index]');
    await page.mouse.wheel(0, 120);
    await page.mouse.wheel(0, 120);
    await page.waitForTimeout(300);
    const indexAfterWheel = await page.textContent('[data-testid=image-index]');
    assert(indexAfterWheel !== indexBefore, 'wheel did not scroll');
    await page.keyboard.press('ArrowUp');
    await page.waitForTimeout(200);
    assert((await page.textContent('[data-testid=image-index]')) !== indexAfterWheel, 'arrow key did not scroll');
    // Cine plays the stack and stops again.
    const beforeCine = await page.evaluate(() => window.__cirrus.newImages);
    await page.click('[data-action=cine]');
    await page.waitForFunction((n) => window.__cirrus.newImages >= n + 3, beforeCine, { timeout: 5000 });
    await page.click('[data-action=cine]');
    await page.waitForTimeout(300);
    const stopped = await page.evaluate(() => window.__cirrus.newImages);
    await page.waitForTimeout(500);
    assert((await page.evaluate(() => window.__cirrus.newImages)) === stopped, 'cine did not stop');
    // The tag browser lists the current image's attributes.
    await page.click('[data-action=tags]');
    const tags = await page.textContent('[data-testid=tag-browser]');
    assert(tags.includes('(0020,000D)') && tags.includes(studyUid), 'tag browser lacks StudyInstanceUID');
    await page.screenshot({ path: join(ARTIFACTS, '04-viewer-wl-tags.png') });
    await page.click('[data-testid=tag-browser] button');
    await page.selectOption('[data-testid=layout]', '2x2');
    await page.waitForFunction(() => document.querySelectorAll('.vp-element canvas.cornerstone-canvas').length === 4, null, { timeout: 10000 });
    await page.waitForTimeout(1000);
    await page.screenshot({ path: join(ARTIFACTS, '05-viewer-2x2.png') });
  });

  await test('reference lines mark the axial slice on the sagittal series', async () => {
    await page.goto(`${server.base}/`);
    await page.waitForSelector('.study-row');
    await page.evaluate(() => window.__cirrus && (window.__cirrus.firstImageAt = 0));
    await page.click('.study-row:has-text("CROSS")');
    await page.waitForFunction(() => window.__cirrus?.firstImageAt > 0, null, { timeout: 20000 });
    await page.selectOption('[data-testid=layout]', '1x2');
    await page.waitForFunction(() => document.querySelectorAll('[data-testid=image-index]')[1]?.textContent, null, { timeout: 10000 });
    await page.check('text=Reference lines');
    const box = await page.locator('.vp-element').first().boundingBox();
    await page.mouse.move(box.x + box.width / 2, box.y + box.height / 2);
    for (let i = 0; i < 6; i += 1) await page.mouse.wheel(0, 100);
    await page.waitForTimeout(500);
    // Where the shown axial plane (z of its ImagePositionPatient) crosses the sagittal image, on its canvas.
    const check = await page.evaluate(() => {
      const axial = window.__cirrus.viewport(0);
      const sagittal = window.__cirrus.viewport(1);
      const z = axial.getImageData().origin[2];
      const expected = sagittal.worldToCanvas([0, 0, z])[1];
      const line = sagittal.element.querySelector('.svg-layer line');
      return { z, expected, y1: line ? Number(line.getAttribute('y1')) : null, y2: line ? Number(line.getAttribute('y2')) : null };
    });
    assert(check.y1 !== null, 'no reference line drawn on the sagittal viewport');
    assert(Math.abs(check.y1 - check.expected) < 3 && Math.abs(check.y2 - check.expected) < 3, `line at ${check.y1}/${check.y2}, expected ${check.expected} (z ${check.z})`);
    await page.screenshot({ path: join(ARTIFACTS, '06-reference-lines.png') });
    // A structured report is recognised by its SOP class and said to be unsupported, in both languages.
    await page.click('.series-item:has-text("findings")');
    const notice = page.locator('[data-testid=vp-notice]');
    await notice.waitFor({ timeout: 10000 });
    assert((await notice.textContent()).includes('not yet supported'), `SR notice: ${await notice.textContent()}`);
    await page.screenshot({ path: join(ARTIFACTS, '06b-sr-not-supported.png') });
    await page.selectOption('[data-testid=locale]', 'zh-CN');
    assert((await notice.textContent()).includes('暂不支持'), `SR notice in Chinese: ${await notice.textContent()}`);
    await page.screenshot({ path: join(ARTIFACTS, '06c-viewer-zh.png') });
    await page.selectOption('[data-testid=locale]', 'en');
  });

  await test('an upload through the page appears in the study list', async () => {
    const files = listFiles(join(SHARED_DATA, UPLOADED));
    const dicomCount = files.filter(isDicomName).length;
    await page.goto(`${server.base}/upload`);
    await page.setInputFiles('[data-testid=file-input]', files);
    await page.waitForSelector('[data-testid=upload-summary]', { timeout: 60000 });
    const summary = await page.textContent('[data-testid=upload-summary]');
    const skipped = files.length - dicomCount;
    assert(
      summary.includes(`Stored ${dicomCount}`) && summary.includes(`skipped ${skipped}`) && summary.includes('refused 0'),
      `unexpected summary: ${summary}`,
    );
    await page.screenshot({ path: join(ARTIFACTS, '07-upload.png') });
    const header = readFileSync(files.find(isDicomName));
    const pn = /stc_test/.test(header.toString('latin1')) ? 'stc_test' : '';
    await page.click('[data-testid=nav-studies]');
    await page.waitForSelector('.study-row');
    await page.waitForFunction((n) => document.querySelectorAll('.study-row').length === n, names.length + 1, { timeout: 10000 });
    if (pn) assert((await page.textContent('[data-testid=study-table]')).includes(pn), `uploaded patient ${pn} not listed`);
    await page.screenshot({ path: join(ARTIFACTS, '08-list-after-upload.png') });
  });

  await test('every transfer syntax of the uploaded study decodes in the browser (codec workers)', async () => {
    const rows = await page.$$eval('.study-row', (rs) => rs.map((r) => [r.getAttribute('data-study-uid'), r.textContent]));
    const row = rows.find(([, text]) => text.includes('stc_test'));
    assert(row, 'uploaded study not in the list');
    await page.evaluate(() => window.__cirrus && (window.__cirrus.firstImageAt = 0));
    await page.click(`.study-row[data-study-uid="${row[0]}"]`);
    await page.waitForFunction(() => window.__cirrus?.firstImageAt > 0, null, { timeout: 20000 });
    const count = await page.evaluate(() => window.__cirrus.viewport().getImageIds().length);
    const failures = [];
    for (let i = 0; i < count; i += 1) {
      const shown = await page.evaluate(async (k) => {
        const vp = window.__cirrus.viewport();
        if (vp.getCurrentImageIdIndex() === k) return { result: 'ok', ts: vp.getCurrentImageId() };
        const painted = new Promise((r) => vp.element.addEventListener('CORNERSTONE_IMAGE_RENDERED', r, { once: true }));
        const set = vp.setImageIdIndex(k).then(() => 'ok', (e) => `load failed: ${e?.message ?? e?.status ?? e}`);
        const result = await Promise.race([set.then((r) => (r === 'ok' ? painted.then(() => 'ok') : r)), new Promise((r) => setTimeout(() => r('timeout'), 8000))]);
        return { result, ts: vp.getCurrentImageId() };
      }, i);
      // The first image may still be repainting after a resize: give a blank canvas up to 3 s.
      let stats = await canvasStats(page);
      for (let tries = 0; tries < 6 && shown.result === 'ok' && stats.lit < stats.width * stats.height * 0.01; tries += 1) {
        await new Promise((r) => setTimeout(r, 500));
        stats = await canvasStats(page);
      }
      if (shown.result !== 'ok' || stats.lit < stats.width * stats.height * 0.01) failures.push(`image ${i + 1}: ${shown.result}, lit ${stats.lit}`);
    }
    await page.screenshot({ path: join(ARTIFACTS, '09-transfer-syntaxes.png') });
    assert(count === 9 && failures.length === 0, `${count} images; ${failures.join('; ')}`);
  });

  await test('phone layout works at 390×844', async () => {
    const phone = await browser.newContext({
      viewport: { width: 390, height: 844 },
      deviceScaleFactor: 2,
      isMobile: true,
      hasTouch: true,
      locale: 'zh-CN',
    });
    // The desktop's session cookie (not its stored settings: the phone picks its own language).
    await phone.addCookies(await desktop.cookies());
    const p = await phone.newPage();
    await p.goto(`${server.base}/`);
    await p.waitForSelector('.study-row');
    assert((await p.textContent('[data-testid=nav-studies]')) === '检查列表', 'phone did not default to the browser language');
    const overflow = await p.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
    assert(overflow <= 0, `page is ${overflow}px wider than the phone`);
    await p.screenshot({ path: join(ARTIFACTS, '10-phone-list.png') });
    await p.click('.study-row >> nth=0');
    await p.waitForSelector('[data-testid=mobile-viewer]', { timeout: 10000 });
    // Mobile mode never decodes DICOM in the page: no cornerstone canvas, images are server-rendered JPEGs.
    assert((await p.locator('.vp-element').count()) === 0, 'phone loaded the desktop viewer');
    const src = await p.getAttribute('[data-testid=mobile-image]', 'src');
    assert(src && src.includes('/rendered'), `image not from /rendered: ${src}`);
    const rendered = await server.fetch(src);
    if (rendered.status === 404) {
      await p.screenshot({ path: join(ARTIFACTS, '11-phone-viewer.png') });
      await phone.close();
      return { skip: 'layout checked; the server has no /rendered endpoint yet, so no image to look at' };
    }
    await p.waitForFunction(() => document.querySelector('[data-testid=mobile-image]')?.naturalWidth > 0, null, { timeout: 10000 });
    // A one-finger swipe up scrolls; in W/L mode the same gesture asks the server for a new window.
    const swipe = (dx, dy) =>
      p.evaluate(([x, y]) => {
        const el = document.querySelector('.stage');
        const touch = (cx, cy) => new Touch({ identifier: 1, target: el, clientX: cx, clientY: cy });
        el.dispatchEvent(new TouchEvent('touchstart', { touches: [touch(200, 500)], bubbles: true }));
        el.dispatchEvent(new TouchEvent('touchmove', { touches: [touch(200 + x, 500 + y)], bubbles: true }));
        el.dispatchEvent(new TouchEvent('touchend', { touches: [], bubbles: true }));
      }, [dx, dy]);
    await swipe(0, -60);
    await p.waitForFunction((old) => document.querySelector('[data-testid=mobile-image]')?.getAttribute('src') !== old, src);
    const scrolled = await p.getAttribute('[data-testid=mobile-image]', 'src');
    await p.selectOption('[data-testid=mobile-mode]', 'wl');
    await swipe(80, 40);
    await p.waitForFunction(() => /[?&]window=/.test(document.querySelector('[data-testid=mobile-image]')?.getAttribute('src') ?? ''), null, { timeout: 5000 });
    await p.waitForFunction(() => {
      const img = document.querySelector('[data-testid=mobile-image]');
      return img?.complete && img.naturalWidth > 0;
    }, null, { timeout: 10000 });
    assert(scrolled !== src, 'swipe did not change the image');
    const viewerOverflow = await p.evaluate(() =>
      Math.max(...[...document.querySelectorAll('.mobile-viewer *')].map((e) => e.getBoundingClientRect().right)) - window.innerWidth,
    );
    assert(viewerOverflow <= 1, `phone viewer controls stick out ${viewerOverflow}px`);
    await p.screenshot({ path: join(ARTIFACTS, '11-phone-viewer.png') });
    // The same in English.
    await p.selectOption('[data-testid=locale]', 'en');
    await p.waitForFunction(() => document.querySelector('[data-testid=nav-studies]')?.textContent === 'Studies');
    await p.screenshot({ path: join(ARTIFACTS, '11b-phone-viewer-en.png') });
    await p.click('[data-testid=nav-studies]');
    await p.waitForSelector('.study-row');
    await p.screenshot({ path: join(ARTIFACTS, '10b-phone-list-en.png') });
    await phone.close();
  });

  await test('analysis queue updates live and opens the result in the viewer', async () => {
    const api = await server.fetch('/api/jobs');
    if (api.status === 404) return { skip: 'the server has no analysis API yet' };
    await page.goto(`${server.base}/analysis`);
    // The preloaded Siemens 3D pCASL study is analysed by the server's worker; the page follows it live.
    await page.waitForSelector('[data-job-id]', { timeout: 30000 });
    await page.waitForFunction(
      () => [...document.querySelectorAll('[data-job-id] .badge')].some((b) => b.classList.contains('succeeded') || b.classList.contains('failed')),
      null,
      { timeout: 90000 },
    );
    await page.screenshot({ path: join(ARTIFACTS, '12-analysis.png') });
    const done = page.locator('[data-job-id]:has(.badge.succeeded)').first();
    assert((await done.count()) === 1, `no job succeeded: ${await page.textContent('[data-testid=job-table]')}`);
    const pdf = await server.fetch(await done.locator('[data-action=pdf]').getAttribute('href'));
    assert(pdf.ok && (pdf.headers.get('content-type') ?? '').includes('pdf'), `report PDF answered ${pdf.status}`);
    await page.evaluate(() => window.__cirrus && (window.__cirrus.firstImageAt = 0));
    const jobId = await done.getAttribute('data-job-id');
    await done.locator('[data-action=open-result]').click();
    await page.waitForFunction(() => window.__cirrus?.firstImageAt > 0, null, { timeout: 20000 });
    assert(new URL(page.url()).searchParams.get('series'), 'result opened without a series');
    // The first image is drawn before the stack moves to its middle slice and the map's palette is
    // applied: wait (bounded) for the settled picture rather than sampling the first frame.
    let stats = await canvasStats(page);
    for (let i = 0; i < 50 && !(stats?.lit > 0); i += 1) {
      await page.waitForTimeout(100);
      stats = await canvasStats(page);
    }
    assert(stats.lit > 0, 'result viewport is blank');
    await page.screenshot({ path: join(ARTIFACTS, '13-analysis-result.png') });

    // The derived objects are recognised by what they are (SOP class, ImageType, value mapping):
    const job = await (await server.fetch(`/api/jobs/${jobId}`)).json();
    const roles = job.results.filter((r) => !r.superseded).at(-1).series;
    const shown = new URL(page.url()).searchParams.get('series');
    // the CBF MR series (ImageType DERIVED\SECONDARY\CBF) is shown in colour ...
    if (shown === roles.CBF) {
      const colormap = await page.evaluate(() => window.__cirrus.viewport().getProperties().colormap?.name);
      assert(colormap === 'cirrus-perfusion', `CBF series shown with colour map ${colormap}`);
    }
    // ... and leads the overlay choices;
    const firstChoice = await page.$eval('[data-testid=overlay] option:nth-child(2)', (o) => o.value);
    assert(firstChoice === roles.CBF, `first overlay choice ${firstChoice}, CBF is ${roles.CBF}`);
    // the Parametric Map opens as a colour stack;
    const pm = await (await server.fetch(`/dicom-web/studies/${job.study_instance_uid}/instances?SOPClassUID=1.2.840.10008.5.1.4.1.1.30`)).json();
    assert(pm.length === 1, `expected one Parametric Map instance, QIDO found ${pm.length}`);
    await page.click(`.series-item[data-series-uid="${pm[0]['0020000E'].Value[0]}"]`);
    await page.waitForFunction(
      (uid) => window.__cirrus.viewport().getCurrentImageId()?.includes(uid) && window.__cirrus.viewport().getProperties().colormap?.name === 'cirrus-perfusion',
      pm[0]['0020000E'].Value[0],
      { timeout: 15000 },
    );
    await page.screenshot({ path: join(ARTIFACTS, '13b-parametric-map.png') });
    // the report (Encapsulated PDF) offers to open the document, which is a PDF.
    await page.click(`.series-item[data-series-uid="${roles.REPORT}"]`);
    await page.waitForSelector('[data-action=open-document]', { timeout: 10000 });
    await page.screenshot({ path: join(ARTIFACTS, '14-report-document.png') });
    const [popup] = await Promise.all([page.waitForEvent('popup'), page.click('[data-action=open-document]')]);
    await popup.waitForURL(/^blob:/, { timeout: 10000 });
    const magic = await popup.evaluate(async () => new TextDecoder().decode((await (await fetch(location.href)).arrayBuffer()).slice(0, 5)));
    assert(magic === '%PDF-', `the document is not a PDF: ${magic}`);
    await popup.close();
  });

  await test('accounts: an institution tree, a user made and managed on the admin pages, log out everywhere, lockout', async () => {
    if (!server.auth) return { skip: 'the server has no accounts yet' };
    const contexts = [];
    const browserAs = async (user) => {
      const ctx = await browser.newContext({ viewport: { width: 1280, height: 800 }, locale: 'en-US' });
      contexts.push(ctx);
      const p = await ctx.newPage();
      p.on('pageerror', (e) => pageErrors.push(e.message));
      if (user) await signIn(p, server, user);
      return p;
    };
    const tryLogin = async (p, username, password) => {
      await p.goto(`${server.base}/login`);
      // Under heavy load the login form once failed to appear within 30 s after a log-out-everywhere;
      // load the page once more before giving up (the outcome of the sign-in is still asserted).
      if (!(await p.waitForSelector('input[name=username]', { timeout: 15000 }).catch(() => null))) {
        console.log(`  login form not shown at ${p.url()}; reloading`);
        await p.goto(`${server.base}/login`);
      }
      await p.fill('input[name=username]', username);
      await p.fill('input[name=password]', password);
      await p.click('[data-testid=login-submit]');
      await p.waitForSelector('[data-testid=login-error], [data-testid=current-user]', { timeout: 10000 });
      return (await p.locator('[data-testid=login-error]').count()) ? p.textContent('[data-testid=login-error]') : null;
    };
    try {
      // Institutions: a superior hospital and one that reads through it, shown as a tree.
      await page.goto(`${server.base}/admin/institutions`);
      await page.waitForSelector('[data-testid=institution-table]');
      await page.fill('input[name=institution-name]', 'E2E Provincial Hospital');
      await page.click('[data-testid=institution-create]');
      await page.waitForSelector('[data-testid=institution-table] tr:has-text("E2E Provincial Hospital")');
      await page.fill('input[name=institution-name]', 'E2E County Hospital');
      await page.selectOption('select[name=institution-parent]', { label: 'E2E Provincial Hospital' });
      await page.click('[data-testid=institution-create]');
      const county = page.locator('[data-testid=institution-table] tr', { hasText: 'E2E County Hospital' });
      await county.waitFor();
      assert((await county.textContent()).includes('E2E Provincial Hospital'), `county row: ${await county.textContent()}`);
      const names = await page.$$eval('[data-testid=institution-table] tbody tr', (rs) => rs.map((r) => r.cells[0].textContent.trim()));
      const parentAt = names.indexOf('E2E Provincial Hospital');
      assert(parentAt >= 0 && /^└\s*E2E County Hospital$/.test(names[parentAt + 1] ?? ''), `tree order: ${names.join(' | ')}`);
      await page.screenshot({ path: join(ARTIFACTS, '18-institutions.png') });

      // Users: a reporting doctor of the county hospital.
      const doctor = { username: 'doctor.e2e', password: 'Reading-Room-42' };
      await page.goto(`${server.base}/admin/users`);
      await page.waitForSelector('[data-testid=user-table]');
      await page.fill('input[name=new-username]', doctor.username);
      await page.fill('input[name=new-display-name]', 'Dr E2E');
      await page.fill('input[name=new-password]', doctor.password);
      await page.selectOption('select[name=new-role]', 'reporting_doctor');
      await page.selectOption('select[name=new-institution]', { label: 'E2E County Hospital' });
      await page.click('[data-testid=user-create]');
      const row = page.locator(`[data-testid=user-table] tr[data-username="${doctor.username}"]`);
      await row.waitFor({ timeout: 10000 });
      const rowText = await row.textContent();
      assert(rowText.includes('Reporting doctor') && rowText.includes('E2E County Hospital') && rowText.includes('Active'), `user row: ${rowText}`);
      await page.screenshot({ path: join(ARTIFACTS, '19-users.png') });

      // The doctor signs in twice; the header shows their institution; no admin pages in their menu.
      const d1 = await browserAs(doctor);
      const d2 = await browserAs(doctor);
      assert((await d1.textContent('[data-testid=current-institution]')).includes('E2E County Hospital'), 'doctor header lacks the institution');
      await d1.click('[data-testid=user-menu]');
      assert((await d1.locator('[data-testid=nav-users]').count()) === 0, 'a doctor is offered the users page');
      // Log out everywhere from one browser: the other one is sent to the login page on its next call.
      await d1.click('[data-testid=logout-all]');
      await d1.waitForSelector('[data-testid=login-form]');
      // (Each HTTP worker process trusts a resolved session for up to 10 s: allow that long.)
      await d2.click('[data-testid=nav-analysis]');
      for (let i = 0; i < 30 && !(await d2.locator('[data-testid=login-form]').count()); i += 1) {
        await d2.waitForTimeout(500);
        if (!(await d2.locator('[data-testid=login-form]').count())) await d2.goto(`${server.base}/analysis`);
      }
      await d2.waitForSelector('[data-testid=login-form]', { timeout: 5000 });
      assert(new URL(d2.url()).searchParams.get('next') === '/analysis', `d2 sent to ${d2.url()}`);

      // Reset the doctor's password on the users page; the new one works.
      const fresh = 'Second-Shift-77';
      await row.locator('[data-action=reset-password]').click();
      await page.fill('input[name=reset-password]', fresh);
      await page.click('[data-testid=password-form] button[type=submit]');
      await page.waitForSelector('.notice:has-text("Password of doctor.e2e changed")', { timeout: 10000 });
      const old = await tryLogin(d1, doctor.username, doctor.password);
      assert(old === 'Wrong username or password.', `the old password: ${old ?? 'signed in'}`);
      const renewed = await tryLogin(d1, doctor.username, fresh);
      assert(renewed === null, `the new password: ${renewed}`);
      // Deactivated, the doctor cannot sign in any more.
      page.once('dialog', (d) => d.accept());
      await row.locator('[data-action=deactivate]').click();
      await page.waitForFunction((u) => document.querySelector(`tr[data-username="${u}"]`)?.textContent.includes('Deactivated'), doctor.username);
      assert((await tryLogin(d2, doctor.username, fresh)) === 'Wrong username or password.', 'a deactivated user signed in');

      // Lockout: five wrong passwords lock an account; the page says for how long.
      const tech = { username: 'tech.e2e', password: 'Scanner-Room-9' };
      const made = await server.fetch('/api/users', {
        method: 'POST',
        headers: { 'Content-Type': 'application/json' },
        body: JSON.stringify({ ...tech, role: 'technologist' }),
      });
      assert(made.status === 201, `creating ${tech.username} answered ${made.status}`);
      let message = '';
      for (let i = 0; i < 6 && !/locked/.test(message); i += 1) message = (await tryLogin(d2, tech.username, `wrong-${i}-Password`)) ?? '';
      assert(/locked .* Try again in \d+ (min|s)/.test(message), `lockout message: ${message}`);
      await d2.screenshot({ path: join(ARTIFACTS, '20-login-locked.png') });
    } finally {
      for (const ctx of contexts) await ctx.close();
    }
  });

  await test('an API token made on the tokens page works as a Bearer token until revoked; logging out ends the session', async () => {
    if (!server.auth) return { skip: 'the server has no accounts yet' };
    const ctx = await browser.newContext({ viewport: { width: 1280, height: 800 }, locale: 'zh-CN' });
    try {
      await ctx.grantPermissions(['clipboard-read', 'clipboard-write'], { origin: server.base }).catch(() => undefined);
      const p = await ctx.newPage();
      p.on('pageerror', (e) => pageErrors.push(e.message));
      // Signed out, the tokens page is the login page (in the browser's language), remembering the way back.
      await p.goto(`${server.base}/tokens`);
      await p.waitForSelector('[data-testid=login-form]');
      assert((await p.textContent('[data-testid=login-submit]')).trim() === '登录', 'login page not in Chinese');
      await p.screenshot({ path: join(ARTIFACTS, '15-login-zh.png') });
      await p.fill('input[name=username]', server.admin.username);
      await p.fill('input[name=password]', 'not-the-password');
      await p.click('[data-testid=login-submit]');
      await p.waitForSelector('[data-testid=login-error]');
      assert((await p.textContent('[data-testid=login-error]')).includes('用户名或密码错误'), `zh error: ${await p.textContent('[data-testid=login-error]')}`);
      await p.selectOption('[data-testid=locale]', 'en');
      await p.fill('input[name=password]', server.admin.password);
      await p.click('[data-testid=login-submit]');
      await p.waitForSelector('[data-testid=tokens-page]', { timeout: 15000 });
      assert((await p.getAttribute('[data-testid=current-user]', 'data-username')) === server.admin.username, 'header lacks the user');
      // Create a read token valid for 7 days: the secret is shown once, with a copy button.
      await p.fill('input[name=token-name]', 'e2e dicomweb client');
      await p.selectOption('select[name=token-scope]', 'read');
      await p.selectOption('select[name=token-expiry]', { label: '7 days' });
      await p.click('[data-testid=token-create]');
      await p.waitForSelector('[data-testid=token-secret]', { timeout: 10000 });
      const secret = await p.inputValue('[data-testid=token-value]');
      assert(/^cirrus_\S{16,}$/.test(secret), `token shown: ${secret}`);
      await p.click('[data-testid=token-copy]');
      await p.waitForFunction(() => document.querySelector('[data-testid=token-copy]')?.textContent.trim() === 'Copied', null, { timeout: 5000 });
      const row = p.locator('[data-testid=token-table] tr', { hasText: 'e2e dicomweb client' });
      await row.waitFor();
      assert((await row.textContent()).includes('read'), `token row: ${await row.textContent()}`);
      await p.screenshot({ path: join(ARTIFACTS, '16-token-created.png') });
      const bearer = (token) => fetch(`${server.base}/dicom-web/studies?limit=1`, { headers: { Authorization: `Bearer ${token}`, Accept: 'application/dicom+json' } });
      const ok = await bearer(secret);
      assert(ok.status === 200, `QIDO with the new token answered ${ok.status}`);
      assert((await fetch(`${server.base}/dicom-web/studies?limit=1`)).status === 401, 'QIDO without credentials is not refused');
      // Revoke it on the page: the token stops working (permission decisions are cached at most 10 s).
      p.once('dialog', (d) => d.accept());
      await row.locator('[data-action=revoke]').click();
      await p.waitForFunction(() => [...document.querySelectorAll('[data-testid=token-table] tr')].some((r) => r.textContent.includes('e2e dicomweb client') && r.textContent.includes('Revoked')), null, { timeout: 10000 });
      let status = 0;
      const revokedAt = Date.now();
      for (let i = 0; i < 24 && status !== 401; i += 1) {
        status = (await bearer(secret)).status;
        if (status !== 401) await new Promise((r) => setTimeout(r, 500));
      }
      assert(status === 401, `revoked token still answers ${status}`);
      console.log(`  the revoked token was refused after ${Date.now() - revokedAt} ms`);
      // Log out from the user menu: back on the login page, and the old cookie no longer opens anything.
      const cookie = (await ctx.cookies()).find((c) => c.name === 'cirrus_session');
      await p.click('[data-testid=user-menu]');
      await p.screenshot({ path: join(ARTIFACTS, '17-user-menu.png') });
      await p.click('[data-testid=logout]');
      await p.waitForSelector('[data-testid=login-form]', { timeout: 10000 });
      // (Each HTTP worker process trusts a resolved session for up to 10 s: allow that long.)
      let replay = 0;
      const loggedOutAt = Date.now();
      for (let i = 0; i < 24 && replay !== 401; i += 1) {
        replay = (await fetch(`${server.base}/api/auth/me`, { headers: { Cookie: `cirrus_session=${cookie.value}` } })).status;
        if (replay !== 401) await new Promise((r) => setTimeout(r, 500));
      }
      assert(replay === 401, `the logged-out session still answers ${replay}`);
      console.log(`  the logged-out cookie was refused after ${Date.now() - loggedOutAt} ms`);
      await p.goto(`${server.base}/`);
      await p.waitForSelector('[data-testid=login-form]');
      // The other browser's session is untouched.
      assert((await page.evaluate(async () => (await fetch('/api/auth/me')).status)) === 200, 'logging out here ended the other session');
    } finally {
      await ctx.close();
    }
  });

  if (pageErrors.length) console.log(`  page errors seen: ${[...new Set(pageErrors)].join(' | ')}`);
} catch (e) {
  fail('setup', e);
} finally {
  await browser?.close();
  await server.stop();
}

finish('e2e');
