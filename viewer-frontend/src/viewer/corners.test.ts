import { describe, expect, it } from 'vitest';
import { cornerTexts, slicePosition } from './corners';
import type { DicomJson } from '../api/dicomJson';

const meta: DicomJson = {
  '00100010': { vr: 'PN', Value: [{ Alphabetic: 'CROSS^REFERENCE' }] },
  '00100020': { vr: 'LO', Value: ['XREF1'] },
  '00100040': { vr: 'CS', Value: ['F'] },
  '00101010': { vr: 'AS', Value: ['054Y'] },
  '00080020': { vr: 'DA', Value: ['20240101'] },
  '00180050': { vr: 'DS', Value: [5] },
  // Sagittal: rows along +y, columns along −z; the normal is −x... (0,1,0)×(0,0,−1) = (−1,0,0).
  '00200037': { vr: 'DS', Value: [0, 1, 0, 0, 0, -1] },
  '00200032': { vr: 'DS', Value: [-40, -128, 128] },
};

describe('corner texts', () => {
  it('projects the position on the slice normal', () => {
    expect(slicePosition(meta)).toBe(40);
    expect(slicePosition({ '00201041': { vr: 'DS', Value: [12.5] } })).toBe(12.5);
    expect(slicePosition(undefined)).toBeUndefined();
  });

  it('names the patient, the study date, the slice and the view', () => {
    const c = cornerTexts(meta, { index: 4, count: 20, wl: 'W 80 / L 40', zoom: 1.5 });
    expect(c.topLeft).toEqual(['CROSS REFERENCE', 'XREF1 · F 054Y', '2024-01-01']);
    expect(c.bottomLeft).toEqual(['Image 5 / 20', 'Pos 40.0 mm · Thk 5.0 mm']);
    expect(c.bottomRight).toEqual(['W 80 / L 40', 'Zoom 1.50×']);
  });

  it('leaves out what the dataset lacks', () => {
    const c = cornerTexts({}, { index: 0, count: 0 });
    expect(c).toEqual({ topLeft: [], bottomLeft: [], bottomRight: [] });
  });
});

describe('corner texts of a multi-frame object', () => {
  it('take the slice position the viewport knows over the instance attributes', () => {
    const c = cornerTexts(meta, { index: 0, count: 40, position: -12.25 });
    expect(c.bottomLeft[1]).toBe('Pos -12.3 mm · Thk 5.0 mm');
  });
});
