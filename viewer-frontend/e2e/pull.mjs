// End-to-end test of the PACS pull admin page: a real `cirrus serve` (no remote PACS needed for the page),
// a source and a rule made on the page's forms, a study requested over the API, then "why don't we have
// it?" on the page in zh-CN and English. Screenshots go to <repo>/test-artifacts/e2e/pull-*.png.
// Prints `e2e pull: N passed, M failed` and exits non-zero on any failure.
import { join } from 'node:path';
import { chromium } from 'playwright-core';
import { CHROMIUM, CHROMIUM_ARGS, signIn, startServer } from './server.mjs';
import { ARTIFACTS, assert, runner } from './harness.mjs';

const { test, fail, finish } = runner({ only: process.argv[2] });

const server = await startServer();
let browser;
try {
  const uid = `1.2.826.0.1.3680043.8.498.${Date.now()}`;
  const res = await server.fetch('/api/pull/requests', {
    method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ study_uid: uid }),
  });
  assert(res.status === 202, `pull request answered ${res.status}`);
  browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS });

  await test('admin adds a source and a rule, sees the queue and the why-not log (zh-CN)', async () => {
    const ctx = await browser.newContext({ viewport: { width: 1400, height: 1000 }, locale: 'zh-CN' });
    const page = await ctx.newPage();
    await signIn(page, server);
    await page.goto(`${server.base}/admin/pull`);
    await page.waitForSelector('[data-testid=pull-page]');
    assert((await page.textContent('h2')).includes('PACS 拉取'), 'the page title is not in Chinese');
    await page.fill('input[name=source-name]', 'Hospital PACS');
    await page.fill('input[name=source-ae]', 'HOSP_PACS');
    await page.fill('input[name=source-host]', '127.0.0.1');
    await page.click('[data-testid=pull-source-form] button[type=submit]');
    await page.waitForSelector('[data-testid=pull-sources] td:has-text("HOSP_PACS")');
    await page.fill('input[name=rule-name]', 'brain ASL');
    await page.fill('input[name=rule-study]', 'ModalitiesInStudy=MR');
    await page.fill('input[name=rule-series]', 'BodyPartExamined~HEAD,头颅 ImageType!~LOCALIZER');
    await page.click('[data-testid=pull-rule-form] button[type=submit]');
    await page.waitForSelector('[data-testid=pull-rules] td:has-text("brain ASL")');
    const state = await page.textContent(`[data-testid=pull-queue] tr[data-state=requested]`);
    assert(state.includes('已申请'), `the requested study is not listed as requested: ${state}`);
    await page.fill('input[name=why]', uid);
    await page.click('[data-testid=pull-explain]');
    await page.waitForSelector('[data-testid=pull-why-events] tr[data-kind=requested]');
    const why = await page.textContent('[data-testid=pull-why-summary]');
    assert(why.includes('已申请'), `the why-not sentence is not in Chinese: ${why}`);
    // RIS/HIS orders uploaded as CSV on the page: listed, the urgent one in words.
    await page.setInputFiles('input[name=hints-file]', {
      name: 'orders.csv', mimeType: 'text/csv',
      buffer: Buffer.from('accession_number,patient_id,body_part,priority\nACC-E2E-1,,head,urgent\n,P-E2E,chest,routine\n'),
    });
    await page.click('[data-testid=pull-hints-form] button[type=submit]');
    await page.waitForSelector('[data-testid=pull-hints] tr[data-priority=urgent]');
    const notice = await page.textContent('[data-testid=pull-notice]');
    assert(notice.includes('新增 2 条'), `unexpected upload notice: ${notice}`);
    const urgent = await page.textContent('[data-testid=pull-hints] tr[data-priority=urgent]');
    assert(urgent.includes('HEAD') && urgent.includes('紧急'), `the urgent order is not listed: ${urgent}`);
    await page.screenshot({ path: join(ARTIFACTS, 'pull-01-admin-zh.png'), fullPage: true });
    await ctx.close();
  });

  await test('a bad filter is refused with its term named; an unseen study is explained (English)', async () => {
    const ctx = await browser.newContext({ viewport: { width: 1400, height: 1000 }, locale: 'en-US' });
    const page = await ctx.newPage();
    await signIn(page, server);
    await page.goto(`${server.base}/admin/pull`);
    await page.fill('input[name=rule-name]', 'broken');
    await page.fill('input[name=rule-series]', 'Colour=red');
    await page.click('[data-testid=pull-rule-form] button[type=submit]');
    const alert = await (await page.waitForSelector('[role=alert]')).textContent();
    assert(alert.includes('Colour=red'), `the error does not name the term: ${alert}`);
    await page.fill('input[name=why]', '1.2.3.4.5');
    await page.click('[data-testid=pull-explain]');
    const summary = await (await page.waitForSelector('[data-testid=pull-why-summary]')).textContent();
    assert(summary.includes('no source poll has seen'), `unexpected summary: ${summary}`);
    await page.screenshot({ path: join(ARTIFACTS, 'pull-02-why-en.png'), fullPage: true });
    await ctx.close();
  });
} catch (e) {
  fail('setup', e);
} finally {
  await browser?.close();
  await server.stop();
}

finish('e2e pull');
