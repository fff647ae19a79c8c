// Browser tests of comparing series (issue 15): the crosshair across series of one frame of reference
// (click a spot in one pane: the others go to their nearest slice and show the cross), the corner texts
// (hidable) and the keyboard help. A real `cirrus serve`; an axial and a sagittal series in one frame of
// reference (e2e/fixtures.mjs: shared/data has none at right angles) and the Siemens 3D pCASL study from
// ../shared/data with the CBF map and colour series our own `cirrus quant` makes of it.
// Prints `e2e-compare: N passed, M failed`; screenshots go to <repo>/test-artifacts/e2e/.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium } from 'playwright-core';
import { CHROMIUM, CHROMIUM_ARGS, signIn, startServer, stowFiles } from './server.mjs';
import { ARTIFACTS, assert, crossAndAslFiles, runner } from './harness.mjs';

const ASL = 'asl/siemens/pcasl3d';
const only = process.argv[2];
const { test, fail, finish } = runner({ only });

const server = await startServer();
let browser;
const work = mkdtempSync(join(tmpdir(), 'cirrus-compare-'));
try {
  const files = crossAndAslFiles(work, ASL);
  const loaded = await stowFiles(server, files);
  assert(loaded.failed === 0 && loaded.stored === files.length, `STOW: ${JSON.stringify(loaded)} of ${files.length}`);
  const studies = await (await server.fetch('/dicom-web/studies?includefield=00100010')).json();
  const uidOf = (name) => studies.find((s) => JSON.stringify(s['00100010'] ?? {}).includes(name))?.['0020000D'].Value[0];
  const crossUid = uidOf('CROSS');
  const aslUid = studies.find((s) => s['0020000D'].Value[0] !== crossUid)?.['0020000D'].Value[0];
  const aslSeries = await (await server.fetch(`/dicom-web/studies/${aslUid}/series?includefield=0008103E&includefield=00080008`)).json();
  const byType = (type) => aslSeries.find((s) => (s['00080008']?.Value ?? []).join('\\') === type)?.['0020000E'].Value[0];
  const cbfUid = byType('DERIVED\\SECONDARY\\CBF');
  const pmUid = aslSeries.find((s) => s['0008103E']?.Value?.[0]?.includes('parametric map'))?.['0020000E'].Value[0];
  assert(crossUid && cbfUid && pmUid, `studies/series: ${JSON.stringify(aslSeries.map((s) => s['0008103E']?.Value))}`);

  browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS });
  const context = await browser.newContext({ viewport: { width: 1440, height: 900 }, locale: 'en-US' });
  const page = await context.newPage();
  await signIn(page, server);
  const pageErrors = [];
  page.on('pageerror', (e) => pageErrors.push(e.message));

  async function openTwo(studyUid, query = '') {
    await page.goto(`${server.base}/viewer/${studyUid}${query}`);
    await page.waitForFunction(() => window.__cirrus?.firstImageAt > 0 && window.__cirrus.tools, null, { timeout: 20000 });
    await page.selectOption('[data-testid=layout]', '1x2');
    await page.waitForFunction(() => window.__cirrus.viewport(1)?.getImageIds().length > 0 && window.__cirrus.viewport(1).getImageData(), null, { timeout: 20000 });
    await page.waitForTimeout(500);
  }
  /** The panes' state: image index, the shown image's origin and its plane normal. */
  const panes = () =>
    page.evaluate(() =>
      [0, 1].map((i) => {
        const vp = window.__cirrus.viewport(i);
        return { index: vp.getCurrentImageIdIndex(), origin: [...vp.getImageData().origin], normal: [...vp.getCamera().viewPlaneNormal] };
      }),
    );
  /** Where the cross is drawn on pane `i` (the crossing of its arms, canvas px), or null. */
  const crossOn = (i) =>
    page.evaluate((k) => {
      const svg = window.__cirrus.viewport(k).element.querySelector('.svg-layer');
      const h = svg?.querySelector('[data-id=cirrus-cross-0]');
      const v = svg?.querySelector('[data-id=cirrus-cross-2]');
      return h && v ? [Number(v.getAttribute('x1')), Number(h.getAttribute('y1'))] : null;
    }, i);
  const box = (i) => page.locator('.vp-element').nth(i).boundingBox();

  await test('crosshair: a click in the axial pane moves the sagittal pane to that point and shows the cross on both', async () => {
    await openTwo(crossUid);
    let [p0, p1] = await panes();
    const axial = Math.abs(p0.normal[2]) > 0.9 ? 0 : 1;
    const sagittal = 1 - axial;
    assert(Math.abs([p0, p1][sagittal].normal[0]) > 0.9, `panes are not axial + sagittal: ${JSON.stringify([p0, p1])}`);
    const before = [p0, p1][sagittal];
    // A spot 30 mm right of the sagittal pane's current slice, inside the sagittal slab (x −50…45).
    const targetX = before.origin[0] > 0 ? before.origin[0] - 30 : before.origin[0] + 30;
    const [bx, by] = await page.evaluate(([a, x]) => {
      const vp = window.__cirrus.viewport(a);
      const z = vp.getImageData().origin[2];
      return vp.worldToCanvas([x, 10, z]);
    }, [axial, targetX]);
    await page.keyboard.press('c');
    assert((await page.getAttribute('[data-tool=crosshair]', 'class'))?.includes('active'), 'C did not take the crosshair tool');
    const b = await box(axial);
    await page.mouse.click(b.x + bx, b.y + by);
    await page.waitForTimeout(400);
    [p0, p1] = await panes();
    const after = [p0, p1][sagittal];
    const world = await page.evaluate(([a, x, y]) => [...window.__cirrus.viewport(a).canvasToWorld([x, y])], [axial, bx, by]);
    assert(after.index !== before.index, `the sagittal pane stayed on image ${before.index + 1}`);
    assert(Math.abs(after.origin[0] - world[0]) <= 2.5, `sagittal slice at x ${after.origin[0]}, the spot at x ${world[0].toFixed(1)} (slices 5 mm apart)`);
    const expected = await page.evaluate(([s, w]) => window.__cirrus.viewport(s).worldToCanvas(w), [sagittal, world]);
    const cross = await crossOn(sagittal);
    assert(cross && Math.hypot(cross[0] - expected[0], cross[1] - expected[1]) < 2, `cross on the sagittal pane at ${cross}, expected ${expected}`);
    const own = await crossOn(axial);
    assert(own && Math.hypot(own[0] - bx, own[1] - by) < 2, `cross on the axial pane at ${own}, clicked ${bx},${by}`);
    await page.screenshot({ path: join(ARTIFACTS, 'c01-crosshair-axial-to-sagittal.png') });
    // And back: a click low in the sagittal pane moves the axial pane to that height.
    const axialBefore = [p0, p1][axial];
    const targetZ = axialBefore.origin[2] > -10 ? axialBefore.origin[2] - 30 : axialBefore.origin[2] + 30;
    const [sx, sy] = await page.evaluate(([s, z]) => {
      const vp = window.__cirrus.viewport(s);
      return vp.worldToCanvas([vp.getImageData().origin[0], 0, z]);
    }, [sagittal, targetZ]);
    const sb = await box(sagittal);
    await page.mouse.click(sb.x + sx, sb.y + sy);
    await page.waitForTimeout(400);
    const axialAfter = (await panes())[axial];
    assert(Math.abs(axialAfter.origin[2] - targetZ) <= 2.5, `axial slice at z ${axialAfter.origin[2]}, the spot at z ${targetZ}`);
  });

  // (The colour Secondary Capture series carries no geometry — quant writes none — so it cannot follow.)
  await test('crosshair on real data: a click on a CBF slice takes the Parametric Map to the same slice', async () => {
    await openTwo(aslUid, `?series=${cbfUid}`);
    // Pane 2 shows the float Parametric Map (picked from the series panel into the active pane).
    await page.mouse.click((await box(1)).x + 5, (await box(1)).y + 5);
    await page.click(`.series-item[data-series-uid="${pmUid}"]`);
    await page.waitForFunction(() => window.__cirrus.viewport(1).getImageIds().length > 0 && window.__cirrus.viewport(1).getImageData(), null, { timeout: 20000 });
    await page.waitForTimeout(500);
    const b0 = await box(0);
    // Three slices up in the CBF pane (made active by a click), then a click in the brain.
    await page.mouse.click(b0.x + 5, b0.y + 5);
    await page.keyboard.press('ArrowUp');
    await page.keyboard.press('ArrowUp');
    await page.keyboard.press('ArrowUp');
    await page.waitForTimeout(300);
    const [cbf, colourBefore] = await panes();
    assert(cbf.index !== colourBefore.index, `the panes already show the same slice (${cbf.index + 1}): the test proves nothing`);
    await page.click('[data-tool=crosshair]');
    await page.mouse.click(b0.x + b0.width / 2 + 15, b0.y + b0.height / 2 - 10);
    await page.waitForTimeout(400);
    const [cbfAfter, colour] = await panes();
    const d = (a, b, n) => Math.abs((a[0] - b[0]) * n[0] + (a[1] - b[1]) * n[1] + (a[2] - b[2]) * n[2]);
    assert(cbfAfter.index === cbf.index, 'the click scrolled the CBF pane itself');
    assert(colour.index !== colourBefore.index, `the map pane stayed on slice ${colour.index + 1}`);
    assert(d(colour.origin, cbfAfter.origin, cbfAfter.normal) < 0.5, `map slice ${colour.index + 1} is ${d(colour.origin, cbfAfter.origin, cbfAfter.normal).toFixed(1)} mm from CBF slice ${cbf.index + 1}`);
    assert(await crossOn(1), 'no cross on the Parametric Map');
    // Both panes' corner texts name the same slice position (the map's from its per-frame geometry).
    const pos = async (i) => (await page.textContent(`[data-testid=corner-bl] >> nth=${i}`)).match(/Pos (-?[\d.]+) mm/)?.[1];
    assert((await pos(0)) && (await pos(0)) === (await pos(1)), `corner positions ${await pos(0)} / ${await pos(1)}`);
    await page.screenshot({ path: join(ARTIFACTS, 'c02-crosshair-cbf-map.png') });
  });

  await test("zoom/pan sync (cornerstone's ZoomPan synchronizer): zooming one pane zooms the other by the same factor", async () => {
    await openTwo(crossUid);
    const scales = () => page.evaluate(() => [0, 1].map((i) => window.__cirrus.viewport(i).getZoom()));
    const [z0, z1] = await scales();
    await page.check('[data-testid=sync-zoom-pan]');
    await page.click('[data-tool=zoom]');
    const b = await box(0);
    const c = [b.x + b.width / 2, b.y + b.height / 2];
    await page.mouse.move(c[0], c[1]);
    await page.mouse.down();
    for (let k = 1; k <= 8; k += 1) await page.mouse.move(c[0], c[1] - 8 * k);
    await page.mouse.up();
    await page.waitForTimeout(400);
    const [a0, a1] = await scales();
    assert(Math.abs(a0 / z0 - 1) > 0.1, `the zoom drag did not zoom pane 1 (${z0} → ${a0})`);
    assert(Math.abs(a1 / z1 - a0 / z0) < 0.02, `pane 2 zoomed ×${(a1 / z1).toFixed(2)}, pane 1 ×${(a0 / z0).toFixed(2)}`);
    await page.screenshot({ path: join(ARTIFACTS, 'c07-zoom-pan-sync.png') });
    await page.uncheck('[data-testid=sync-zoom-pan]');
    await page.click('[data-tool=wl]');
  });

  await test('corner texts: patient, study date, slice position and thickness, W/L and zoom; H hides them (en, zh-CN)', async () => {
    for (const locale of ['en', 'zh-CN']) {
      await page.goto(`${server.base}/`);
      await page.selectOption('[data-testid=locale]', locale);
      await openTwo(crossUid);
      const tl = await page.textContent('[data-testid=corner-tl] >> nth=0');
      assert(tl.includes('CROSS REFERENCE') && tl.includes('XREF1') && tl.includes('F 054Y') && tl.includes('2024-01-01'), `top left: ${tl}`);
      const [p0] = await panes();
      const bl = await page.textContent('[data-testid=corner-bl] >> nth=0');
      const pos = p0.origin[0] * 0 + (p0.normal[2] > 0 ? p0.origin[2] : -p0.origin[2]);
      const words = locale === 'en' ? ['Pos', 'Thk 5.0 mm'] : ['层位', '层厚 5.0 mm'];
      assert(words.every((w) => bl.includes(w)) && bl.includes(`${pos.toFixed(1)} mm`), `bottom left: ${bl} (slice at ${pos})`);
      const br = await page.textContent('[data-testid=corner-br] >> nth=0');
      assert(/W \d+ \/ L \d+/.test(br) && (locale === 'en' ? /Zoom \d\.\d\d×/ : /缩放 \d\.\d\d×/).test(br), `bottom right: ${br}`);
      await page.screenshot({ path: join(ARTIFACTS, `c03-corners-${locale}.png`) });
      await page.keyboard.press('h');
      await page.waitForTimeout(200);
      assert((await page.locator('[data-testid=corner-tl]').count()) === 0, 'H did not hide the corner texts');
      await page.screenshot({ path: join(ARTIFACTS, `c04-corners-hidden-${locale}.png`) });
      await page.click('[data-action=corners]');
      assert((await page.locator('[data-testid=corner-tl]').count()) === 2, 'the toolbar button did not bring the corner texts back');
    }
  });

  await test('? shows the keyboard shortcuts (zh-CN and en)', async () => {
    for (const locale of ['zh-CN', 'en']) {
      await page.selectOption('[data-testid=locale]', locale).catch(() => undefined);
      await page.goto(`${server.base}/`);
      await page.selectOption('[data-testid=locale]', locale);
      await page.goto(`${server.base}/viewer/${crossUid}`);
      await page.waitForFunction(() => window.__cirrus?.firstImageAt > 0, null, { timeout: 20000 });
      await page.keyboard.press('?');
      const help = page.locator('[data-testid=key-help]');
      await help.waitFor({ timeout: 5000 });
      const text = await help.textContent();
      assert(text.includes(locale === 'en' ? 'Keyboard shortcuts' : '快捷键') && text.includes(locale === 'en' ? 'Crosshair tool' : '十字线工具'), `help: ${text}`);
      assert((await help.locator('tr').count()) >= 10, 'fewer than 10 shortcuts listed');
      await page.screenshot({ path: join(ARTIFACTS, `c05-key-help-${locale}.png`) });
      await page.keyboard.press('?');
      assert((await help.count()) === 0, '? did not close the help');
    }
  });

  await test('phone 390×844: a CBF map opens on its middle slice in the perfusion palette with a colour bar (zh-CN, en)', async () => {
    for (const locale of ['zh-CN', 'en']) {
      const phone = await browser.newContext({ viewport: { width: 390, height: 844 }, locale: locale === 'en' ? 'en-US' : 'zh-CN', isMobile: true, hasTouch: true });
      const p = await phone.newPage();
      await signIn(p, server);
      await p.goto(`${server.base}/viewer/${aslUid}?series=${cbfUid}`);
      await p.waitForSelector('[data-testid=mobile-image]', { state: 'attached', timeout: 20000 });
      // Coloured pixels on the map's canvas (the rendered JPEG is grey).
      await p.waitForFunction(() => {
        const c = document.querySelector('[data-testid=mobile-map]');
        if (!c || !c.width) return false;
        const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
        let coloured = 0;
        for (let i = 0; i < d.length; i += 4) if (Math.max(d[i], d[i + 1], d[i + 2]) - Math.min(d[i], d[i + 1], d[i + 2]) > 60) coloured += 1;
        return coloured > 200;
      }, null, { timeout: 20000 });
      const info = await p.textContent('.stage .info');
      assert(info.includes(locale === 'en' ? 'Image 21 / 40' : '图像 21 / 40'), `phone opened on ${info}, not the middle of 40`);
      assert((await p.inputValue('[data-testid=mobile-slider]')) === '20', `slider at ${await p.inputValue('[data-testid=mobile-slider]')}, the image is 21`);
      assert((await p.textContent('[data-testid=colour-bar-unit]')).includes('ml/100g/min'), 'no unit on the phone colour bar');
      assert((await p.textContent('[data-testid=colour-bar-top]')).trim() === '100', `phone colour bar top ${await p.textContent('[data-testid=colour-bar-top]')}`);
      await p.screenshot({ path: join(ARTIFACTS, `c06-phone-cbf-${locale}.png`) });
      await phone.close();
    }
  });

  await test('no page errors', async () => {
    assert(!pageErrors.length, `page errors: ${[...new Set(pageErrors)].join(' | ')}`);
  });
} catch (e) {
  fail('setup', e);
} finally {
  await browser?.close();
  await server.stop();
  rmSync(work, { recursive: true, force: true });
}

finish('e2e-compare');
