import { describe, expect, it } from 'vitest';
import { allowedActions, currentResult, jobQuery, latestJobByStudy, normaliseJob, parseJobList } from './jobs';

describe('normaliseJob', () => {
  it('reads the snake_case fields and scales percent progress', () => {
    const job = normaliseJob({
      id: 7,
      status: 'waiting_for_parameters',
      study_instance_uid: '1.2',
      series_instance_uids: ['1.2.3'],
      patient_name: 'DOE^J',
      progress: 40,
      missing_parameters: [{ name: 'post_labeling_delay', unit: 's' }, 'labeling_duration'],
      updated_at: '2024-01-01T00:00:00Z',
      result: { cbf_series_uid: '1.2.9' },
    });
    expect(job.id).toBe('7');
    expect(job.status).toBe('waiting_parameters');
    expect(job.progress).toBeCloseTo(0.4);
    expect(job.missing.map((m) => m.name)).toEqual(['post_labeling_delay', 'labeling_duration']);
    expect(job.missing[0].unit).toBe('s');
    expect(job.resultSeriesUid).toBe('1.2.9');
    expect(job.resultStudyUid).toBe('1.2');
  });
  it('maps unknown statuses to queued rather than failing', () => {
    expect(normaliseJob({ id: 'a', status: 'canceled' }).status).toBe('cancelled');
    expect(normaliseJob({ id: 'a', status: 'mystery' }).status).toBe('queued');
  });
});

describe('parseJobList', () => {
  it('accepts a bare array or a paged object', () => {
    expect(parseJobList([{ id: 1 }]).jobs).toHaveLength(1);
    const page = parseJobList({ items: [{ id: 1 }, { id: 2 }], total: 12 });
    expect(page.jobs.map((j) => j.id)).toEqual(['1', '2']);
    expect(page.total).toBe(12);
  });
  it('keeps the most recent job per study', () => {
    const jobs = parseJobList([
      { id: 1, study_uid: 's', updated_at: '2024-01-01', status: 'failed' },
      { id: 2, study_uid: 's', updated_at: '2024-01-02', status: 'running' },
    ]).jobs;
    expect(latestJobByStudy(jobs).get('s')?.id).toBe('2');
  });
});

describe('the Cirrus job JSON', () => {
  const full = {
    id: 3,
    state: 'waiting',
    actions: ['set_parameters', 'start', 'cancel', 'delete'],
    missing: ['pld'],
    reason: 'post-labeling delay(s) could not be read',
    vendor: 'Siemens',
    labeling: 'pcasl',
    study_instance_uid: '1.2',
    series_instance_uids: ['1.2.3'],
    m0_series_instance_uid: '1.2.4',
    parameter_schema: { pld: { unit: 's', kind: 'seconds_list', label: 'post-labeling delay(s)' } },
    results: [
      { version: 1, series: { CBF: '9.1' }, superseded: true },
      { version: 2, series: { CBF: '9.2', REPORT: '9.3' }, superseded: false },
    ],
  };
  it('reads state, actions, reason, schema and results', () => {
    const job = normaliseJob(full);
    expect(job.status).toBe('waiting_parameters');
    expect([...allowedActions(job)]).toEqual(['set_parameters', 'start', 'cancel', 'delete']);
    expect(job.message).toContain('could not be read');
    expect(job.kind).toBe('Siemens · pcasl');
    expect(job.schema.pld.unit).toBe('s');
    expect(job.m0SeriesUid).toBe('1.2.4');
    expect(currentResult(job)?.CBF).toBe('9.2');
  });
  it('falls back to state rules without an actions list', () => {
    expect([...allowedActions(normaliseJob({ id: 1, state: 'failed' }))]).toEqual(['rerun', 'delete']);
  });
  it('pages with limit/offset and uses the server state names', () => {
    const q = jobQuery({ status: 'waiting_parameters', page: 3, pageSize: 20 });
    expect(q.get('status')).toBe('waiting');
    expect(q.get('limit')).toBe('20');
    expect(q.get('offset')).toBe('40');
  });
});
