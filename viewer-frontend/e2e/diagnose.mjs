// Browser tests of what a reading doctor relies on (issue 15): tools that keep working after any switch,
// a magnifier that magnifies, W/L that follows the image's data range, a CBF map that reads correctly
// (colour bar, unit, black background, middle slice), and an overlay menu of real maps placed by geometry.
// A real `cirrus serve`, the Siemens 3D pCASL study from ../shared/data over STOW-RS plus the derived
// series our own `cirrus quant` makes from it, Debian's chromium through playwright-core.
// Prints `e2e-diagnose: N passed, M failed`; screenshots go to <repo>/test-artifacts/e2e/.
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium } from 'playwright-core';
import { CHROMIUM, CHROMIUM_ARGS, REPO_DIR, SHARED_DATA, listFiles, startServer, stowFiles } from './server.mjs';

const ARTIFACTS = join(REPO_DIR, 'test-artifacts', 'e2e');
mkdirSync(ARTIFACTS, { recursive: true });
const PYTHON = process.env.CIRRUS_PYTHON ?? join(REPO_DIR, '.venv/bin/python');
const SERVER_DIR = process.env.CIRRUS_SERVER_DIR ?? REPO_DIR;
const STUDY = 'asl/siemens/pcasl3d';
const only = process.argv[2];

const results = [];
async function test(name, fn) {
  if (only && !name.includes(only)) return;
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

const server = await startServer();
let browser;
const work = mkdtempSync(join(tmpdir(), 'cirrus-diag-'));
try {
  const source = listFiles(join(SHARED_DATA, STUDY));
  execFileSync(PYTHON, ['-m', 'server.cli', 'quant', join(SHARED_DATA, STUDY), '--out', work, '--no-regions'], { cwd: SERVER_DIR, stdio: 'ignore', env: { ...process.env, PYTHONPATH: SERVER_DIR } });
  const derived = listFiles(work).filter((f) => f.endsWith('.dcm'));
  const loaded = await stowFiles(server.base, [...source, ...derived]);
  assert(loaded.failed === 0 && loaded.stored === source.length + derived.length, `STOW: ${JSON.stringify(loaded)} of ${source.length}+${derived.length}`);
  const [study] = await (await fetch(`${server.base}/dicom-web/studies`)).json();
  const studyUid = study['0020000D'].Value[0];
  const series = await (await fetch(`${server.base}/dicom-web/studies/${studyUid}/series?includefield=0008103E&includefield=00080008`)).json();
  const byType = (type) => series.find((s) => (s['00080008']?.Value ?? []).join('\\') === type)?.['0020000E'].Value[0];
  const cbfUid = byType('DERIVED\\SECONDARY\\CBF');
  const sourceUid = series.find((s) => (s['00080008']?.Value ?? [])[0] === 'ORIGINAL')?.['0020000E'].Value[0];
  assert(cbfUid && sourceUid, `series: ${JSON.stringify(series.map((s) => s['0008103E']?.Value))}`);

  browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS });
  const context = await browser.newContext({ viewport: { width: 1440, height: 900 }, locale: 'en-US' });
  const page = await context.newPage();
  const pageErrors = [];
  page.on('pageerror', (e) => pageErrors.push(e.message));

  async function open(seriesUid, extra = '') {
    await page.goto(`${server.base}/viewer/${studyUid}?series=${seriesUid}${extra}`);
    await page.waitForFunction(() => window.__cirrus?.firstImageAt > 0 && window.__cirrus.tools, null, { timeout: 20000 });
    await page.waitForTimeout(300);
  }
  async function box() {
    return page.locator('.vp-element').first().boundingBox();
  }
  async function drag(from, to, button = 'left') {
    await page.mouse.move(from[0], from[1]);
    await page.mouse.down({ button });
    for (let i = 1; i <= 8; i += 1) await page.mouse.move(from[0] + ((to[0] - from[0]) * i) / 8, from[1] + ((to[1] - from[1]) * i) / 8);
    await page.mouse.up({ button });
    await page.waitForTimeout(150);
  }

  await test('after zoom and pan, the length tool measures (right value in mm)', async () => {
    await open(cbfUid);
    const b = await box();
    const c = [b.x + b.width / 2, b.y + b.height / 2];
    await page.click('[data-tool=zoom]');
    await drag(c, [c[0], c[1] - 60]);
    await page.click('[data-tool=pan]');
    await drag(c, [c[0] + 30, c[1] + 20]);
    const scale = await page.evaluate(() => window.__cirrus.viewport().getCamera().parallelScale);
    await page.click('[data-tool=length]');
    const from = [c[0] - 80, c[1]];
    const to = [c[0] + 70, c[1] + 40];
    await drag(from, to);
    const got = await page.evaluate(
      ([f, t, origin]) => {
        const vp = window.__cirrus.viewport();
        const lengths = window.__cirrus.tools.annotation.state.getAllAnnotations().filter((a) => a.metadata.toolName === 'Length');
        const w = (p) => vp.canvasToWorld([p[0] - origin[0], p[1] - origin[1]]);
        const [a, z] = [w(f), w(t)];
        const expected = Math.hypot(a[0] - z[0], a[1] - z[1], a[2] - z[2]);
        const stats = lengths.map((l) => Object.values(l.data.cachedStats ?? {})[0]?.length);
        return { count: lengths.length, stats, expected, scale: vp.getCamera().parallelScale };
      },
      [from, to, [b.x, b.y]],
    );
    await page.screenshot({ path: join(ARTIFACTS, 'd01-zoom-pan-length.png') });
    assert(got.scale === scale, `the length drag changed the camera (${scale} → ${got.scale}): zoom or pan kept the left button`);
    assert(got.count === 1, `expected one length measurement, found ${got.count}`);
    assert(Math.abs(got.stats[0] - got.expected) < 0.5, `length ${got.stats[0]} mm, expected ${got.expected.toFixed(2)} mm`);
  });

  if (pageErrors.length) console.log(`  page errors seen: ${[...new Set(pageErrors)].join(' | ')}`);
} catch (e) {
  console.log(`not ok - setup: ${e.stack ?? e}`);
  results.push({ name: 'setup', status: 'failed' });
} finally {
  await browser?.close();
  await server.stop();
  rmSync(work, { recursive: true, force: true });
}

const count = (s) => results.filter((r) => r.status === s).length;
console.log(`e2e-diagnose: ${count('passed')} passed, ${count('failed')} failed`);
process.exit(count('failed') ? 1 : 0);
