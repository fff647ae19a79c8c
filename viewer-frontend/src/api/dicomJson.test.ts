import { describe, expect, it } from 'vitest';
import { displayValue, formatDate, formatTag, num, personName, str } from './dicomJson';
import { orderFrames } from './client';

const instance = (uid: string, z: number, n: number, frames?: number) => ({
  '00080018': { vr: 'UI', Value: [uid] },
  '00200013': { vr: 'IS', Value: [n] },
  '00200032': { vr: 'DS', Value: [0, 0, z] },
  '00200037': { vr: 'DS', Value: [1, 0, 0, 0, 1, 0] },
  ...(frames ? { '00280008': { vr: 'IS', Value: [frames] } } : {}),
});

describe('DICOM JSON accessors', () => {
  it('reads person names, strings and numbers', () => {
    const ds = {
      '00100010': { vr: 'PN', Value: [{ Alphabetic: 'Wang^Fang', Ideographic: '王^芳' }] },
      '00080061': { vr: 'CS', Value: ['MR', 'PT'] },
      '00200011': { vr: 'IS', Value: ['7'] },
    };
    expect(str(ds, 'PatientName')).toBe('Wang Fang / 王 芳');
    expect(str(ds, 'ModalitiesInStudy')).toBe('MR\\PT');
    expect(num(ds, 'SeriesNumber')).toBe(7);
    expect(num(ds, 'InstanceNumber')).toBeUndefined();
    expect(personName('DOE^JOHN')).toBe('DOE JOHN');
    expect(formatDate('20240131')).toBe('2024-01-31');
    expect(formatTag('0020000d')).toBe('(0020,000D)');
    expect(displayValue({ vr: 'OW', BulkDataURI: 'http://x/bulk' })).toBe('[bulk data] http://x/bulk');
    expect(displayValue({ vr: 'SQ', Value: [{}, {}] })).toBe('[2 item(s)]');
  });
});

describe('orderFrames', () => {
  it('sorts axial slices along the normal (superior first) and expands multi-frame instances', () => {
    const frames = orderFrames([instance('a', 10, 1), instance('b', 30, 2), instance('c', 20, 3, 2)]);
    expect(frames.map((f) => `${f.sopUid}:${f.frame}`)).toEqual(['b:1', 'c:1', 'c:2', 'a:1']);
  });
  it('falls back to InstanceNumber without geometry', () => {
    const bare = (uid: string, n: number) => ({ '00080018': { vr: 'UI', Value: [uid] }, '00200013': { vr: 'IS', Value: [n] } });
    expect(orderFrames([bare('x', 3), bare('y', 1), bare('z', 2)]).map((f) => f.sopUid)).toEqual(['y', 'z', 'x']);
  });
});
