import { describe, expect, it } from 'vitest';
import { JOB_EVENT, JOB_STATES, PANELS, analysisOutcome, currentResult, isTime, jobActions, jobKind, jobQuery, latestJobByStudy, panelCsvUrl, showTime, supersededSeries, type JobDetail, type JobSummary } from './jobs';

// A job as the server sends it; typed against the generated schema, so a renamed or new required field
// in the OpenAPI document fails the type check of this file (vue-tsc includes tests).
const summary: JobSummary = {
  id: 3,
  method: 'ASL',
  state: 'waiting',
  actions: ['set_parameters', 'start', 'cancel', 'delete'],
  missing: ['pld'],
  reason: 'waiting for: post-labeling delay(s)',
  label: '15_pcasl_3d',
  vendor: 'Siemens',
  labeling: 'pcasl',
  study_instance_uid: '1.2',
  series_instance_uids: ['1.2.3'],
  m0_series_instance_uid: '1.2.4',
  t1_series_instance_uid: null,
  patient_name: 'DOE^J',
  patient_id: 'P1',
  study_date: '20240101',
  study_description: '',
  priority: 0,
  progress: 0,
  stage: '',
  attempts: 0,
  worker: null,
  max_attempts: 3,
  version: 0,
  cbf_mean: null,
  qc: null,
  created_at: '2024-01-01T00:00:00+00:00',
  updated_at: '2024-01-01T00:00:00+00:00',
  queued_at: null,
  started_at: null,
  finished_at: null,
};

function detail(results: JobDetail['results']): JobDetail {
  const spec = { label: 'x', kind: 'seconds' as const };
  return {
    ...summary,
    parameters: { detected: {}, overrides: {}, model: 'auto' },
    provenance: {},
    statistics: {},
    timings: {},
    diagnostic_text: '',
    override_notes: {},
    protocol: null,
    parameter_schema: {
      pld: spec, labeling_duration: spec, ti1: spec, ti: spec, labeling_type: spec, model: spec, vendor: spec,
      field_strength: spec, t1_blood: spec, labeling_efficiency: spec, background_suppression: spec,
    },
    results,
  };
}

describe('jobs API', () => {
  it('pages with limit/offset and sends the server state names', () => {
    const q = jobQuery({ status: 'waiting', patient: 'wang*', page: 3, pageSize: 20 });
    expect(q.get('status')).toBe('waiting');
    expect(q.get('patient')).toBe('wang*');
    expect(q.get('limit')).toBe('20');
    expect(q.get('offset')).toBe('40');
    expect(jobQuery({}).has('status')).toBe(false);
  });

  it('lists every state once and has one call per button action', () => {
    expect(new Set(JOB_STATES).size).toBe(7);
    expect(Object.keys(jobActions).sort()).toEqual(['cancel', 'delete', 'rerun', 'retry_detection', 'start']);
    expect(JOB_EVENT).toBe('job');
  });

  it('says what an analysis run found: jobs, none with the reason, or a failed detection', () => {
    const base = { study_instance_uid: '1.2', jobs: [], created: [], reason: '', detection_failure: null };
    expect(analysisOutcome({ ...base, outcome: 'jobs', jobs: [summary, summary], created: [3] })).toEqual(
      { key: 'analysis.outcome.jobs', params: { total: 2, created: 1 } });
    expect(analysisOutcome({ ...base, outcome: 'no_acquisition', reason: 'the study holds no MR series' })).toEqual(
      { key: 'analysis.outcome.none', params: { reason: 'the study holds no MR series' } });
    expect(analysisOutcome({ ...base, outcome: 'detection_failed', reason: 'analysis detection failed: OSError' }).key)
      .toBe('analysis.outcome.failed');
  });

  it('picks the newest result that is not superseded', () => {
    const job = detail([
      { version: 1, series: { CBF: '9.1' }, superseded: true, created_at: '' },
      { version: 3, series: { CBF: '9.3' }, superseded: true, created_at: '' },
      { version: 2, series: { CBF: '9.2', REPORT: '9.4' }, superseded: false, created_at: '' },
    ]);
    expect(currentResult(job)).toEqual({ CBF: '9.2', REPORT: '9.4' });
    expect(currentResult(detail([]))).toBeUndefined();
  });

  it('marks the series of replaced results as superseded, never those of the current one', () => {
    const rerun = detail([
      { version: 1, series: { CBF: '9.1', REPORT: '9.5' }, superseded: true, created_at: '' },
      { version: 2, series: { CBF: '9.2', REPORT: '9.6' }, superseded: false, created_at: '' },
    ]);
    const once = { ...detail([{ version: 1, series: { CBF: '8.1' }, superseded: false, created_at: '' }]), id: 7 };
    expect([...supersededSeries([rerun, once])].sort()).toEqual(['9.1', '9.5']);
    expect(supersededSeries([detail([])]).size).toBe(0);
  });

  it('keeps the most recent job per study and names the sequence', () => {
    const older = { ...summary, id: 1, updated_at: '2024-01-01T10:00:00' };
    const newer = { ...summary, id: 2, updated_at: '2024-01-02T09:00:00' };
    const other = { ...summary, id: 5, study_instance_uid: '9.9' };
    const latest = latestJobByStudy([newer, older, other]);
    expect(latest.get('1.2')?.id).toBe(2);
    expect(latest.get('9.9')?.id).toBe(5);
    expect(jobKind(summary)).toBe('Siemens · pcasl · 15_pcasl_3d');
    expect(jobKind({ ...summary, vendor: '', label: '' })).toBe('pcasl');
  });
});

describe('panel CSVs', () => {
  it('names one download per disease panel the server documents', () => {
    expect(PANELS.map((p) => panelCsvUrl(7, p))).toEqual([
      '/api/jobs/7/panels/alzheimers.csv',
      '/api/jobs/7/panels/cerebrovascular.csv',
      '/api/jobs/7/panels/metabolic.csv',
    ]);
  });
});

describe('times with their unit', () => {
  it('shows seconds in the unit the form uses, never rescaling the number typed', () => {
    expect(showTime(1.8, 'ms')).toBe('1800');
    expect(showTime([0.25, 1.5], 'ms')).toBe('250, 1500');
    expect(showTime(1.8, 's')).toBe('1.8');
    expect(showTime(undefined, 'ms')).toBe('');
    expect(isTime({ label: 'post-labeling delay(s)', kind: 'seconds_list', unit: 's' })).toBe(true);
    expect(isTime({ label: 'labeling type', kind: 'choice' })).toBe(false);
  });
});
