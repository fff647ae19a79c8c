import { effectScope, nextTick, ref } from 'vue';
import { afterEach, describe, expect, it } from 'vitest';
import type { FrameRef } from '../../api/client';
import type { DicomJson } from '../../api/dicomJson';
import { useOverlay, type OverlayCanvas } from './useOverlay';

let scope = effectScope();
afterEach(() => scope.stop());

class Canvas implements OverlayCanvas {
  opacity = 0;
  min = 0;
  max = 0;
  images: string[] = [];
  draws = 0;
  destroyed = false;
  setImages(ids: string[]) {
    this.images = ids;
  }
  clear() {
    this.images = [];
  }
  draw() {
    this.draws += 1;
  }
  destroy() {
    this.destroyed = true;
  }
}

const series = (uid: string, imageType?: string[]): DicomJson => ({
  '0020000E': { vr: 'UI', Value: [uid] },
  ...(imageType ? { '00080008': { vr: 'CS', Value: imageType } } : {}),
});

const instances: Record<string, DicomJson> = {
  m0: { '00080016': { vr: 'UI', Value: ['1.2.840.10008.5.1.4.1.1.4'] }, '00080008': { vr: 'CS', Value: ['ORIGINAL', 'PRIMARY', 'M0'] } },
  att: { '00080016': { vr: 'UI', Value: ['1.2.840.10008.5.1.4.1.1.4'] }, '00080008': { vr: 'CS', Value: ['DERIVED', 'SECONDARY', 'ATT'] } },
  cbf: { '00080016': { vr: 'UI', Value: ['1.2.840.10008.5.1.4.1.1.4'] }, '00080008': { vr: 'CS', Value: ['DERIVED', 'SECONDARY', 'CBF'] } },
  pdf: { '00080016': { vr: 'UI', Value: ['1.2.840.10008.5.1.4.1.1.104.1'] } },
  sc: { '00080016': { vr: 'UI', Value: ['1.2.840.10008.5.1.4.1.1.7'] }, '00080008': { vr: 'CS', Value: ['DERIVED', 'SECONDARY', 'CBF'] } },
};

function setup(shown: string[], mosaics: string[] = []) {
  const all = ref([series('m0'), series('att', ['DERIVED', 'SECONDARY', 'ATT']), series('pdf'), series('cbf', ['DERIVED', 'SECONDARY', 'CBF']), series('sc', ['DERIVED', 'SECONDARY', 'CBF'])]);
  const frames = async (uid: string): Promise<FrameRef[]> => [{ sopUid: `${uid}.1`, frame: 1, meta: {} }];
  scope = effectScope();
  const overlay = scope.run(() => useOverlay({ series: all, shownSeries: () => shown, frames, registerSeries: (uid, f) => f.map((x) => `id:${uid}:${x.sopUid}`), firstInstance: async (uid) => instances[uid], isMosaic: (uid) => mosaics.includes(uid) }))!;
  const canvases = shown.map(() => new Canvas());
  canvases.forEach((c, i) => overlay.attach(i, c));
  return { overlay, canvases };
}
const settle = async () => {
  for (let k = 0; k < 5; k += 1) await nextTick();
};

describe('useOverlay', () => {
  it('offers only the maps (not the PDF, the colour picture or the raw series), CBF first', async () => {
    const { overlay } = setup([]);
    await settle();
    expect(overlay.choices.value.map((s) => s['0020000E'].Value?.[0])).toEqual(['cbf', 'att']);
    overlay.overlaySeries.value = 'att';
    await settle();
    expect([overlay.quantity.value, overlay.max.value]).toEqual(['ATT', 2.5]);
  });

  it('never places a map on a mosaic (its position is the mosaic corner, not a slice)', async () => {
    const { overlay, canvases } = setup(['m0', 'cbf'], ['m0']);
    await settle();
    overlay.overlaySeries.value = 'cbf';
    await settle();
    expect(canvases[0].images).toEqual([]);
    expect([overlay.shownOn('m0'), overlay.refusedOn('m0'), overlay.refusedOn('cbf')]).toEqual([false, true, false]);
  });

  it('draws the chosen map over the other viewports, not over itself', async () => {
    const { overlay, canvases } = setup(['m0', 'cbf']);
    await settle();
    overlay.overlaySeries.value = 'cbf';
    await settle();
    overlay.max.value = 80;
    await settle();
    expect(canvases[0].images).toEqual(['id:cbf:cbf.1']);
    expect(canvases[1].images).toEqual([]);
    expect([canvases[0].max, canvases[0].opacity]).toEqual([80, 0.5]);
    expect([overlay.shownOn('m0'), overlay.shownOn('cbf')]).toEqual([true, false]);
    overlay.overlaySeries.value = '';
    await settle();
    expect(canvases[0].images).toEqual([]);
    expect(overlay.shownOn('m0')).toBe(false);
  });

  it('redraws at a new opacity and forgets a viewport that went away', async () => {
    const { overlay, canvases } = setup(['m0', 'att']);
    overlay.opacity.value = 0.2;
    await nextTick();
    expect(canvases.map((c) => [c.opacity, c.draws])).toEqual([[0.2, 1], [0.2, 1]]);
    overlay.detach(1);
    overlay.drawAll();
    overlay.draw(1);
    expect([canvases[0].draws, canvases[1].draws, canvases[1].destroyed]).toEqual([2, 1, true]);
  });
});
