// Browser test of the parameters dialog and protocol presets (issue 14) on the real Philips pCASL source
// series (classic DICOM without PLD or labeling duration): the job waits for both; the dialog shows each
// time with its unit (ms/s) and the server's refusal of "1800 s"; entered in ms with "remember for this
// protocol" the job runs, fails QC (a flow-free phantom) and the queue shows the QC badge; the viewer's ASL
// result panel shows the QC; another study of the same protocol starts at once with provenance "preset";
// the presets admin page lists the preset and edits it. A real `cirrus serve` with one worker.
// Prints `e2e-params: N passed, M failed`; screenshots go to <repo>/test-artifacts/e2e/.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium } from 'playwright-core';
import { ARTIFACTS, PYTHON, SERVER_DIR, assert, jsonCall, runner } from './harness.mjs';
import { CHROMIUM, CHROMIUM_ARGS, SHARED_DATA, signIn, startServer } from './server.mjs';

const SOURCE = join(SHARED_DATA, 'asl/philips/202_SOURCE_-_pCASL');
const DYNAMICS = 3; // 16 control + 16 label files per dynamic

// Two ZIPs of the first dynamics: the real files, and a copy as another study of the same protocol.
const MAKE_ZIPS = `
import sys, zipfile, pathlib, pydicom
src, out = pathlib.Path(sys.argv[1]), pathlib.Path(sys.argv[2])
files = sorted(src.glob("*.dcm"))[: int(sys.argv[3]) * 32]
with zipfile.ZipFile(out / "first.zip", "w") as z:
    for f in files:
        z.write(f, f.name)
study, series = pydicom.uid.generate_uid(), pydicom.uid.generate_uid()
with zipfile.ZipFile(out / "second.zip", "w") as z:
    for f in files:
        ds = pydicom.dcmread(f)
        ds.StudyInstanceUID, ds.SeriesInstanceUID = study, series
        ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID = pydicom.uid.generate_uid()
        ds.save_as(out / f.name, enforce_file_format=True)
        z.write(out / f.name, f.name)
`;

const { test, fail, finish } = runner({ only: process.argv[2] });
const server = await startServer({ workers: 1 });
const work = mkdtempSync(join(tmpdir(), 'cirrus-params-'));
let browser;

async function upload(name) {
  const res = await server.fetch(`/api/uploads/stream?filename=${name}`, {
    method: 'POST', headers: { 'Content-Type': 'application/zip' }, body: readFileSync(join(work, name)),
  });
  if (!res.ok) throw new Error(`upload ${name}: ${res.status} ${await res.text()}`);
  const body = await res.json();
  assert(body.jobs.length === 1, `jobs of ${name}: ${JSON.stringify(body.jobs)}`);
  return body.jobs[0];
}

async function finished(id, timeout = 600000) {
  const deadline = Date.now() + timeout;
  for (;;) {
    const job = await jsonCall(server, `/api/jobs/${id}`);
    if (['succeeded', 'failed'].includes(job.state)) return job;
    assert(Date.now() < deadline, `job ${id} still ${job.state} after ${timeout / 1000} s`);
    await new Promise((r) => setTimeout(r, 1000));
  }
}

try {
  execFileSync(PYTHON, ['-c', MAKE_ZIPS, SOURCE, work, String(DYNAMICS)], { cwd: SERVER_DIR, stdio: 'inherit' });
  const first = await upload('first.zip');
  assert(first.state === 'waiting', `first job: ${first.state}`);
  browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS });
  const context = await browser.newContext({ viewport: { width: 1440, height: 900 }, locale: 'en-US' });
  const page = await context.newPage();
  const errors = [];
  page.on('pageerror', (e) => errors.push(e.message));
  await signIn(page, server);
  const row = (id) => page.locator(`[data-testid=job-table] tr[data-job-id="${id}"]`);

  let done;
  await test('the dialog shows each time with its unit and the refusal of 1800 s; ms + remember runs the job', async () => {
    await page.goto(`${server.base}/analysis`);
    await row(first.id).locator('[data-action=params]').click();
    const dialog = page.locator('[data-testid=params-dialog]');
    for (const name of ['pld', 'labeling_duration']) {
      const unit = dialog.locator(`select[name=${name}-unit]`);
      assert(await unit.inputValue() === 'ms', `${name} is shown in ms`);
      assert((await unit.locator('option').allTextContents()).map((s) => s.trim()).join('|') === 'ms|s', 'ms/s choice');
      await dialog.locator(`input[name=${name}]`).fill('1800');
      await unit.selectOption('s');
    }
    await dialog.locator('button[type=submit]').click();
    const error = dialog.locator('[data-testid=params-error]');
    await error.waitFor({ timeout: 20000 });
    const text = await error.textContent();
    assert(text.includes('1800 ms'), `refusal names "1800 ms": ${text}`);
    await page.screenshot({ path: join(ARTIFACTS, 'params-refused.png') });
    assert((await jsonCall(server, `/api/jobs/${first.id}`)).state === 'waiting', 'nothing stored on a refusal');
    for (const name of ['pld', 'labeling_duration']) {
      await dialog.locator(`select[name=${name}-unit]`).selectOption('ms');
      await dialog.locator(`input[name=${name}]`).fill('1800');
    }
    await dialog.locator('[data-testid=remember-preset] input[name=remember]').check();
    await dialog.locator('button[type=submit]').click();
    await dialog.waitFor({ state: 'detached', timeout: 20000 });
    done = await finished(first.id);
    assert(done.state === 'succeeded', `job: ${done.state} ${done.reason}`);
    assert(done.provenance.pld.source === 'user' && done.provenance.pld.detail.includes('1800 ms'), JSON.stringify(done.provenance.pld));
  });

  await test('the queue shows the failed QC badge; the viewer shows it in the ASL result panel', async () => {
    assert(done, 'the job ran');
    await page.goto(`${server.base}/analysis`);
    const badge = row(first.id).locator('[data-testid=job-qc]');
    await badge.waitFor({ timeout: 20000 });
    assert(await badge.evaluate((el) => el.classList.contains('fail')), 'badge class fail');
    await page.screenshot({ path: join(ARTIFACTS, 'params-qc-queue.png') });
    await row(first.id).locator('[data-action=open-result]').click();
    const panel = page.locator('[data-testid=asl-result-qc]');
    await panel.waitFor({ timeout: 60000 });
    assert(await panel.evaluate((el) => el.classList.contains('fail')), 'result panel QC fail');
    assert((await page.locator('[data-testid=asl-result-panel] li').count()) > 0, 'the QC flags are listed');
    await page.screenshot({ path: join(ARTIFACTS, 'params-qc-viewer.png') });
  });

  await test('another study of the protocol starts at once with provenance "preset"', async () => {
    const second = await upload('second.zip');
    assert(['queued', 'running', 'succeeded', 'failed'].includes(second.state), `second job: ${second.state}`);
    const again = await finished(second.id);
    assert(again.state === 'succeeded', `second: ${again.state} ${again.reason}`);
    assert(again.provenance.pld.source === 'preset', JSON.stringify(again.provenance.pld));
  });

  await test('the presets page lists the preset and edits its value', async () => {
    const { presets } = await jsonCall(server, '/api/presets');
    assert(presets.length === 1 && presets[0].manufacturer === 'Philips', JSON.stringify(presets));
    await page.goto(`${server.base}/admin/presets`);
    const line = page.locator(`[data-testid=presets-page] tr[data-preset-id="${presets[0].id}"]`);
    await line.waitFor({ timeout: 20000 });
    assert((await line.textContent()).includes('Philips') && (await line.textContent()).includes('1800'), await line.textContent());
    await line.locator('[data-action=edit]').click();
    await line.locator('input[name=pld]').fill('2000');
    await line.locator('[data-action=save]').click();
    await line.locator('[data-action=edit]').waitFor({ timeout: 20000 });
    const edited = await jsonCall(server, `/api/presets/${presets[0].id}`);
    assert(Math.abs(edited.values.pld - 2.0) < 1e-9, `preset pld ${edited.values.pld}`);
    await page.screenshot({ path: join(ARTIFACTS, 'params-presets.png') });
  });
  await test('no page errors', async () => assert(errors.length === 0, errors.join('; ')));
} catch (e) {
  fail('setup', e, server.output?.() ?? '');
} finally {
  await browser?.close();
  await server.stop();
  rmSync(work, { recursive: true, force: true });
}
finish('e2e-params');
