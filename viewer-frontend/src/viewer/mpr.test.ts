import { describe, expect, it } from 'vitest';
import type { FrameRef } from '../api/client';
import type { DicomJson } from '../api/dicomJson';
import { volumeRefusal } from './mpr';

function slice(z: number, extra: DicomJson = {}): FrameRef {
  const meta: DicomJson = {
    '00280004': { vr: 'CS', Value: ['MONOCHROME2'] },
    '00280010': { vr: 'US', Value: [64] },
    '00280011': { vr: 'US', Value: [64] },
    '00200032': { vr: 'DS', Value: [-100, -100, z] },
    '00200037': { vr: 'DS', Value: [1, 0, 0, 0, 1, 0] },
    ...extra,
  };
  return { sopUid: `1.2.${z}`, frame: 1, meta };
}
const stack = (zs: number[]) => zs.map((z) => slice(z));

describe('MPR volume check', () => {
  it('accepts parallel slices at an even spacing (either direction)', () => {
    expect(volumeRefusal(stack([0, 1.25, 2.5, 3.75]))).toBeUndefined();
    expect(volumeRefusal(stack([10, 5, 0, -5]))).toBeUndefined();
  });
  it('refuses too few slices, mosaics, colour pictures and images without geometry', () => {
    expect(volumeRefusal(stack([0, 1]))).toEqual({ key: 'viewer.mprTooFew', params: { count: 2 } });
    expect(volumeRefusal([slice(0, { '00080008': { vr: 'CS', Value: ['ORIGINAL', 'PRIMARY', 'M', 'MOSAIC'] } })])?.key).toBe('viewer.mprMosaic');
    expect(volumeRefusal(stack([0, 1, 2]).map((f) => ({ ...f, meta: { ...f.meta, '00280004': { vr: 'CS', Value: ['RGB'] } } })))?.key).toBe('viewer.mprNotImage');
    expect(volumeRefusal(stack([0, 1, 2]).map((f) => ({ ...f, meta: { ...f.meta, '00200032': { vr: 'DS' } } })))?.key).toBe('viewer.mprNoGeometry');
  });
  it('refuses mixed orientations, mixed sizes, repeated and unevenly spaced slices', () => {
    const tilted = [...stack([0, 1]), slice(2, { '00200037': { vr: 'DS', Value: [1, 0, 0, 0, 0, 1] } })];
    expect(volumeRefusal(tilted)?.key).toBe('viewer.mprNotParallel');
    const sizes = [...stack([0, 1]), slice(2, { '00280010': { vr: 'US', Value: [32] } })];
    expect(volumeRefusal(sizes)?.key).toBe('viewer.mprFrames');
    expect(volumeRefusal(stack([0, 0, 1, 1]))?.key).toBe('viewer.mprUneven');
    expect(volumeRefusal(stack([0, 1, 2, 5]))).toEqual({ key: 'viewer.mprUneven', params: { min: '1.00', max: '3.00' } });
  });
});
