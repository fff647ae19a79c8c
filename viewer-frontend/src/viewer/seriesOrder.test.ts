import { describe, expect, it } from 'vitest';
import type { DicomJson } from '../api/dicomJson';
import { currentFirst } from './seriesOrder';

const s = (uid: string): DicomJson => ({ '0020000E': { vr: 'UI', Value: [uid] } });
const uids = (list: DicomJson[]) => list.map((x) => x['0020000E'].Value?.[0]);

describe('series list order', () => {
  it('puts superseded results below the current ones, keeping each group in the study order', () => {
    const list = [s('raw'), s('cbf-old'), s('att-old'), s('cbf-new'), s('att-new')];
    expect(uids(currentFirst(list, new Set(['cbf-old', 'att-old'])))).toEqual(['raw', 'cbf-new', 'att-new', 'cbf-old', 'att-old']);
  });
  it('leaves the list alone when nothing is superseded', () => {
    const list = [s('b'), s('a')];
    expect(currentFirst(list, new Set())).toBe(list);
    expect(currentFirst(list, undefined)).toBe(list);
  });
  it('does not reorder the array it is given', () => {
    const list = [s('old'), s('new')];
    currentFirst(list, new Set(['old']));
    expect(uids(list)).toEqual(['old', 'new']);
  });
});
