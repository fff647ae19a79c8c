import { describe, expect, it } from 'vitest';
import { insertMeasurements, measurementLine, mergeMeasurements, sameContent, segmentOf, worklistQuery } from './reading';

const cbf = { name: 'CBF whole brain', value: 47.5, unit: 'ml/(100.g.min)', unit_label: 'ml/100g/min', source: 'ASL analysis job 3 v1' };

describe('reading api helpers', () => {
  it('builds worklist queries with only the filters set', () => {
    expect(worklistQuery({ list: 'to_report' }).toString()).toBe('list=to_report&limit=50&offset=0');
    const q = worklistQuery({ list: 'all', state: 'approved', preset: 'custom', from: '2026-12-01', to: '2026-12-02',
      digit: '7', requesting: 3, q: ' 张 ', exact: true, page: 3, pageSize: 20, tz: 480 });
    expect(Object.fromEntries(q)).toEqual({ list: 'all', limit: '20', offset: '40', state: 'approved', preset: 'custom',
      from: '2026-12-01', to: '2026-12-02', digit: '7', requesting: '3', q: '张', exact: '1', tz: '480' });
    expect(worklistQuery({ list: 'mine', preset: 'today', tz: -60 }).get('tz')).toBe('-60');
  });
  it('maps actions to URL segments', () => {
    expect(segmentOf('take_over')).toBe('take-over');
    expect(segmentOf('request_assistance')).toBe('request-assistance');
    expect(segmentOf('save')).toBeUndefined();
  });
  it('inserts analysis numbers as editable text', () => {
    expect(measurementLine(cbf)).toBe('CBF whole brain: 47.5 ml/100g/min');
    expect(insertMeasurements('未见异常。\n', [cbf])).toBe('未见异常。\nASL (ASL analysis job 3 v1):\nCBF whole brain: 47.5 ml/100g/min');
    expect(insertMeasurements('', [])).toBe('');
    expect(mergeMeasurements([{ ...cbf, value: 1 }], [cbf])).toEqual([cbf]);
  });
  it('compares report contents field by field', () => {
    expect(sameContent({ findings: 'a' }, { findings: 'a', impression: '' })).toBe(true);
    expect(sameContent({ findings: 'a' }, { findings: 'b' })).toBe(false);
  });
});
