// Browser test of the disease-panel CSVs (issue 14): the real Siemens 3D pCASL goes over STOW-RS into a real
// `cirrus serve` with one worker; the job registers it to MNI and computes the atlas regions; the analysis
// queue offers one CSV per disease panel, in English and Chinese, each link downloading that panel's table.
// Prints `e2e-panels: N passed, M failed`; screenshots go to <repo>/test-artifacts/e2e/.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { chromium } from 'playwright-core';
import { CHROMIUM, CHROMIUM_ARGS, SHARED_DATA, listFiles, signIn, startServer, stowFiles } from './server.mjs';
import { ARTIFACTS, assert, runner } from './harness.mjs';

const { test, fail, finish, results } = runner({ only: process.argv[2] });

const server = await startServer({ workers: 1 });
let browser;
try {
  const files = listFiles(join(SHARED_DATA, 'asl/siemens/pcasl3d'));
  const loaded = await stowFiles(server, files);
  assert(loaded.failed === 0 && loaded.stored === files.length, `STOW: ${JSON.stringify(loaded)} of ${files.length}`);
  let job;
  const deadline = Date.now() + 240000;
  while (Date.now() < deadline) {
    const page = await (await server.fetch('/api/jobs')).json();
    job = page.jobs[0];
    if (job && ['succeeded', 'failed'].includes(job.state)) break;
    await new Promise((r) => setTimeout(r, 1000));
  }
  assert(job?.state === 'succeeded', `job: ${JSON.stringify(job)}`);
  const detail = await (await server.fetch(`/api/jobs/${job.id}`)).json();

  browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS });
  const names = {
    'en-US': ['Panel CSV', "Alzheimer's disease", 'Cerebrovascular', 'Endocrine / metabolic'],
    'zh-CN': ['分析面板 CSV', '阿尔茨海默病', '脑血管病', '内分泌/代谢性疾病'],
  };
  for (const [locale, [summary, ...panelNames]] of Object.entries(names)) {
    await test(`${locale}: the queue offers each disease panel as a CSV download`, async () => {
      const context = await browser.newContext({ viewport: { width: 1440, height: 900 }, locale, acceptDownloads: true });
      const page = await context.newPage();
      const errors = [];
      page.on('pageerror', (e) => errors.push(e.message));
      await signIn(page, server);
      await page.goto(`${server.base}/analysis`);
      const menu = page.locator('[data-testid=job-table] [data-testid=panel-csv]').first();
      await menu.locator('summary').click();
      assert((await menu.locator('summary').textContent()).trim() === summary, 'summary text');
      const links = menu.locator('a[data-panel]');
      assert((await links.allTextContents()).map((s) => s.trim()).join('|') === panelNames.join('|'),
        `links ${(await links.allTextContents()).join('|')}`);
      await page.screenshot({ path: join(ARTIFACTS, `panels-${locale}.png`) });
      for (const panel of ['alzheimers', 'cerebrovascular', 'metabolic']) {
        const [download] = await Promise.all([page.waitForEvent('download'), menu.locator(`a[data-panel=${panel}]`).click()]);
        const text = readFileSync(await download.path(), 'utf-8');
        const rows = text.trim().split('\n');
        assert(rows[0].startsWith('region,name,cbf_left,cbf_right'), `${panel} header ${rows[0]}`);
        const bases = detail.statistics.regions.panels[panel].map((r) => r.base);
        assert(rows.slice(1).map((r) => r.split(',')[0]).join('|') === bases.join('|'), `${panel} rows`);
      }
      assert(errors.length === 0, `page errors: ${errors.join('; ')}`);
      await context.close();
    });
  }
} catch (e) {
  fail('setup', e);
} finally {
  await browser?.close();
  await server.stop();
}
if (!results.length) fail('setup', new Error('no test ran'));
finish('e2e-panels');
