import { describe, expect, it } from 'vitest';
import { applyTemplate, filterOfSaved, insertMeasurements, measurementLine, mergeMeasurements, sameContent, savedFilterOf, segmentOf, shownActions, worklistQuery } from './reading';
import type { ReadingRequest } from './reading';

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
  it('labels DCE numbers as DCE', () => {
    const ktrans = { name: 'Ktrans (median)', value: 0.12, unit: '/min', unit_label: 'min⁻¹', source: 'DCE analysis job 4 v2 (Tofts)' };
    expect(insertMeasurements('', [ktrans])).toBe('DCE (DCE analysis job 4 v2 (Tofts)):\nKtrans (median): 0.12 min⁻¹');
  });
  it('applies a template without losing what is written', () => {
    const tp = { findings: '脑实质密度均匀。', impression: '未见异常。' };
    expect(applyTemplate({ findings: '', impression: '' }, tp)).toEqual(tp);
    expect(applyTemplate({ findings: '左侧基底节低密度灶。\n', impression: 'x' }, { ...tp, impression: '' }))
      .toEqual({ findings: '左侧基底节低密度灶。\n脑实质密度均匀。', impression: 'x' });
  });
  it('keeps a filter set without paging and time zone, and opens it again', () => {
    const f = { list: 'review' as const, state: 'reported' as const, preset: 'today' as const, digit: '3', q: '张', exact: true, page: 4, tz: 480 };
    const kept = savedFilterOf(f);
    expect(kept).toEqual({ list: 'review', state: 'reported', preset: 'today', digit: '3', q: '张', exact: '1' });
    expect(filterOfSaved(kept, 'all')).toEqual({ list: 'review', state: 'reported', preset: 'today', from: '', to: '', digit: '3',
      requesting: '', q: '张', exact: true });
  });
  it('compares report contents field by field', () => {
    expect(sameContent({ findings: 'a' }, { findings: 'a', impression: '' })).toBe(true);
    expect(sameContent({ findings: 'a' }, { findings: 'b' })).toBe(false);
  });
});

describe('shownActions', () => {
  const lock = (mine: boolean, expired: boolean): ReadingRequest['lock'] => ({
    mine, expired, holder_name: 'Dr Wang', holder_user_id: 7, holder_institution_id: 2,
    acquired_at: '2026-12-02T08:00:00+00:00', expires_at: '2026-12-02T08:30:00+00:00',
  });
  const reporting = ['take_over', 'release', 'submit', 'request_assistance'] as ReadingRequest['actions'];

  it('offers the holder of a live lock release and submit only', () => {
    expect(shownActions({ actions: reporting, lock: lock(true, false) }, false)).toEqual(['release', 'submit']);
  });
  it('offers another doctor nothing while the lock is live, and the takeover once it expired', () => {
    expect(shownActions({ actions: reporting, lock: lock(false, false) }, false)).toEqual([]);
    expect(shownActions({ actions: reporting, lock: lock(false, true) }, false)).toEqual(['take_over']);
  });
  it('lets an administrator release someone else\'s lock', () => {
    expect(shownActions({ actions: reporting, lock: lock(false, false) }, true)).toEqual(['release']);
  });
  it('keeps the actions that do not depend on a lock', () => {
    expect(shownActions({ actions: ['lock', 'send_back', 'request_assistance'], lock: null }, false)).toEqual(['lock', 'send_back']);
  });
});
