import { effectScope, nextTick, ref } from 'vue';
import { afterEach, describe, expect, it } from 'vitest';
import type { FrameRef } from '../../api/client';
import type { DicomJson } from '../../api/dicomJson';
import { defaultRegistry } from '../handlers';
import { SOP_CLASS } from '../sopClasses';
import { useViewports, vpId, type Layout } from './useViewports';
import { element, fakeRuntime } from './testFakes';

const ui = (v: string) => ({ vr: 'UI', Value: [v] });
const seriesJson = (uid: string): DicomJson => ({ '0020000E': ui(uid) });
const image = (sopClass: string, extra: DicomJson = {}): DicomJson => ({
  '00080016': ui(sopClass),
  '00280010': { vr: 'US', Value: [8] },
  '00280004': { vr: 'CS', Value: ['MONOCHROME2'] },
  ...extra,
});
const META: Record<string, DicomJson> = {
  ct: image(SOP_CLASS.CTImageStorage),
  cbf: image(SOP_CLASS.MRImageStorage, { '00080008': { vr: 'CS', Value: ['DERIVED', 'SECONDARY', 'CBF'] } }),
  pdf: { '00080016': ui(SOP_CLASS.EncapsulatedPDFStorage), '00420011': { vr: 'OB', BulkDataURI: 'http://x/bulk' } },
  sr: { '00080016': ui('1.2.840.10008.5.1.4.1.1.88.22') },
};

let scope = effectScope();
afterEach(() => scope.stop());

function setup(uids: string[], counts: Record<string, number> = {}) {
  const fake = fakeRuntime();
  const layout = ref<Layout>('1x1');
  const requested: string[] = [];
  const pending = new Map<string, (f: FrameRef[]) => void>();
  const frames = (uid: string): Promise<FrameRef[]> => {
    requested.push(uid);
    const n = counts[uid] ?? 3;
    const out = Array.from({ length: n }, (_, k) => ({ sopUid: `${uid}.${k}`, frame: 1, meta: META[uid] ?? META.ct }));
    if (uid.startsWith('slow')) return new Promise((ok) => pending.set(uid, () => ok(out)));
    return Promise.resolve(out);
  };
  scope = effectScope();
  const vps = scope.run(() => useViewports({ series: ref(uids.map(seriesJson)), layout, frames, registry: defaultRegistry(), runtime: () => fake.runtime }))!;
  const els = [0, 1, 2, 3].map(() => element());
  els.forEach((el, i) => vps.bindElement(i, el));
  return { ...fake, vps, layout, requested, pending, els };
}
const settle = async () => {
  for (let k = 0; k < 5; k += 1) await nextTick();
};

describe('useViewports', () => {
  it('fills a new layout with series not shown yet and enables one viewport per slot', async () => {
    const { vps, layout, log, requested, viewports } = setup(['ct', 'cbf', 'pdf']);
    const disabled: number[] = [];
    vps.on('disabled', (i) => disabled.push(i));
    await vps.applyLayout();
    await settle();
    expect(vps.slots.map((s) => s.seriesUid)).toEqual(['ct']);
    layout.value = '2x2';
    await settle();
    expect(vps.slots.map((s) => s.seriesUid)).toEqual(['ct', 'cbf', 'pdf', 'ct']);
    expect(log.filter((l) => l.startsWith('enable'))).toEqual(['enable vp-0', 'enable vp-1', 'enable vp-2', 'enable vp-3']);
    expect(requested).toEqual(['ct', 'cbf', 'pdf', 'ct']);
    expect(viewports.get(vpId(3))?.calls[0]).toEqual(['setStack', ['wadors:ct/ct.0/1', 'wadors:ct/ct.1/1', 'wadors:ct/ct.2/1'], 1]); // opens on the middle slice

    vps.setActive(3);
    layout.value = '1x2';
    await settle();
    expect(vps.slots).toHaveLength(2);
    expect(disabled).toEqual([2, 3]);
    expect(log).toContain('group- vp-3');
    expect(vps.active.value).toBe(0);
    expect([...vps.stacks.keys()].sort()).toEqual([0, 1]);
  });

  it('shows each series the way its SOP-class handler says', async () => {
    const { vps, layout, viewports, prefetched } = setup(['cbf', 'pdf', 'sr', 'ct']);
    layout.value = '2x2';
    await settle();
    const [cbf, pdf, sr, ct] = vps.slots;
    expect([cbf.kind, cbf.count]).toEqual(['stack', 3]);
    expect(viewports.get(vpId(0))?.properties.colormap).toEqual({ name: 'cirrus-perfusion' });
    expect(viewports.get(vpId(3))?.properties.colormap).toBeUndefined();
    expect([cbf.imageKind, cbf.colour, ct.imageKind, ct.colour]).toEqual(['CBF', true, 'other', false]);
    expect([pdf.kind, pdf.count, pdf.document]).toEqual(['document', 0, { uri: 'http://x/bulk', mediaType: 'application/pdf' }]);
    expect([sr.kind, sr.notice]).toEqual(['unsupported', 'viewer.srNotSupported']);
    expect(ct.kind).toBe('stack');
    expect(viewports.get(vpId(1))?.calls).toEqual([]);
    expect(prefetched.map(([ids]) => ids[0])).toEqual(expect.arrayContaining(['wadors:cbf/cbf.0/1', 'wadors:ct/ct.0/1']));
  });

  it('follows the stack, reports load errors on the shown image, and forwards render/VOI events', async () => {
    const { vps, els } = setup(['ct']);
    const events: string[] = [];
    vps.on('rendered', (i) => events.push(`rendered ${i}`));
    vps.on('voi', (i) => events.push(`voi ${i}`));
    vps.on('newImage', (i, index) => events.push(`new ${i}:${index}`));
    await vps.applyLayout();
    await settle();
    expect(vps.slots[0].index).toBe(1); // the middle slice
    vps.reportLoadError('wadors:ct/ct.1/1', { request: { status: 503 } });
    expect(vps.slots[0].error).toBe('Image 2 / 3: HTTP 503');
    els[0].dispatchEvent(new CustomEvent('NEW_IMAGE', { detail: { imageIdIndex: 2 } }));
    expect([vps.slots[0].index, vps.slots[0].error]).toEqual([2, '']);
    vps.reportLoadError('wadors:ct/ct.0/1', new Error('decode failed'));
    expect(vps.slots[0].error).toBe('');
    vps.reportLoadError('wadors:ct/ct.2/1', new Error('decode failed'));
    expect(vps.slots[0].error).toBe('Image 3 / 3: decode failed');
    // A codec .wasm the decode worker could not download: said in words, not as emscripten's abort text.
    vps.reportLoadError('wadors:ct/ct.2/1', new Error("Aborted(NetworkError: Failed to execute 'send' on 'XMLHttpRequest': Failed to load 'http://x/assets/charlswasm_decode-1.wasm'.)"));
    expect(vps.slots[0].error).toBe('Image 3 / 3: The image decoder could not be downloaded (network or server busy); reload the page to try again');
    els[0].dispatchEvent(new Event('RENDERED'));
    els[0].dispatchEvent(new Event('VOI'));
    expect(events).toEqual(['new 0:2', 'rendered 0', 'voi 0']);
    vps.destroy();
    els[0].dispatchEvent(new Event('RENDERED'));
    expect(events).toHaveLength(3);
  });

  it('opens every stack on its middle slice', async () => {
    const { vps, viewports } = setup(['ct'], { ct: 25 });
    await vps.applyLayout();
    await settle();
    expect(vps.slots[0].index).toBe(12);
    expect(viewports.get(vpId(0))?.calls.find((c) => c[0] === 'setStack')?.[2]).toBe(12);
  });

  it('drops a series answer that arrives after another series was chosen', async () => {
    const { vps, viewports, pending } = setup(['ct', 'slow']);
    await vps.applyLayout();
    await settle();
    const load = vps.loadSeries(0, 'slow');
    await vps.loadSeries(0, 'ct');
    pending.get('slow')?.([]);
    await load;
    expect([vps.slots[0].seriesUid, vps.slots[0].error]).toEqual(['ct', '']);
    const stacks = viewports.get(vpId(0))?.calls.filter((c) => c[0] === 'setStack').map((c) => (c[1] as string[])[0]);
    expect(stacks).toEqual(['wadors:ct/ct.0/1', 'wadors:ct/ct.0/1']);
  });
});
