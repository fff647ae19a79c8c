import { describe, expect, it } from 'vitest';
import { ref } from 'vue';
import type { FrameRef } from '../../api/client';
import { locale } from '../../i18n';
import { useMpr } from './useMpr';

const frame = (z: number): FrameRef => ({
  sopUid: `1.${z}`,
  frame: 1,
  meta: {
    '00280004': { vr: 'CS', Value: ['MONOCHROME2'] },
    '00280010': { vr: 'US', Value: [8] },
    '00280011': { vr: 'US', Value: [8] },
    '00200032': { vr: 'DS', Value: [0, 0, z] },
    '00200037': { vr: 'DS', Value: [1, 0, 0, 0, 1, 0] },
  },
});

describe('useMpr', () => {
  it('opens a volume series and toggles back to the stack', () => {
    const frames = [0, 2, 4].map(frame);
    const mpr = useMpr({ slot: () => ({ seriesUid: '9.9', kind: 'stack' }), stack: () => ({ imageIds: ['a', 'b', 'c'], frames }), series: ref([]) });
    mpr.toggle();
    expect(mpr.shown.value?.imageIds).toEqual(['a', 'b', 'c']);
    expect(mpr.refusal.value).toBe('');
    mpr.toggle();
    expect(mpr.shown.value).toBeUndefined();
  });
  it('refuses a series that is not a volume with the reason, in the UI language', () => {
    const mpr = useMpr({ slot: () => ({ seriesUid: '9.9', kind: 'stack' }), stack: () => ({ imageIds: ['a'], frames: [frame(0)] }), series: ref([]) });
    locale.value = 'zh-CN';
    mpr.toggle();
    expect(mpr.shown.value).toBeUndefined();
    expect(mpr.refusal.value).toBe('无法进行 MPR：该序列只有 1 幅图像（至少需要 3 幅平行层面）');
    locale.value = 'en';
    const doc = useMpr({ slot: () => ({ seriesUid: '9.8', kind: 'document' }), stack: () => undefined, series: ref([]) });
    doc.toggle();
    expect(doc.refusal.value).toBe('MPR needs a volume: the series holds no greyscale images');
  });
});
