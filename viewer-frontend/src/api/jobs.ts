// The analysis API (/api/jobs). The server's job JSON is read through `normaliseJob`, which accepts
// the field spellings we might meet (snake_case from Python, a nested `result`) so one place adapts.

export type JobStatus = 'waiting_parameters' | 'queued' | 'running' | 'succeeded' | 'failed' | 'cancelled';
export const JOB_STATUSES: JobStatus[] = ['waiting_parameters', 'queued', 'running', 'succeeded', 'failed', 'cancelled'];

export interface ParameterSpec {
  name: string;
  label?: string;
  unit?: string;
  value?: number | string | null;
}

export interface ParameterSchema {
  unit?: string;
  kind?: string;
  label?: string;
  choices?: string[];
}

export interface JobResult {
  version: number;
  series: Record<string, string>;
  superseded: boolean;
}

export interface Job {
  id: string;
  /** Actions the server allows in this state (start, cancel, rerun, delete, set_parameters), when it says. */
  actions?: string[];
  m0SeriesUid?: string;
  results: JobResult[];
  schema: Record<string, ParameterSchema>;
  status: JobStatus;
  studyUid: string;
  seriesUids: string[];
  patientName: string;
  patientId: string;
  kind: string;
  progress?: number;
  message: string;
  missing: ParameterSpec[];
  parameters: Record<string, unknown>;
  updatedAt: string;
  resultStudyUid?: string;
  resultSeriesUid?: string;
}

type Raw = Record<string, unknown>;
const pick = (o: Raw, ...keys: string[]): unknown => {
  for (const k of keys) if (o[k] !== undefined && o[k] !== null) return o[k];
  return undefined;
};
const asString = (v: unknown): string => (v == null ? '' : String(v));

function normaliseStatus(v: unknown): JobStatus {
  const s = asString(v).toLowerCase().replace(/[- ]/g, '_');
  if (s === 'waiting_for_parameters' || s === 'needs_parameters' || s === 'waiting') return 'waiting_parameters';
  if (s === 'canceled') return 'cancelled';
  if (s === 'done' || s === 'success' || s === 'completed') return 'succeeded';
  return (JOB_STATUSES as string[]).includes(s) ? (s as JobStatus) : 'queued';
}

function normaliseMissing(v: unknown): ParameterSpec[] {
  if (!Array.isArray(v)) return [];
  return v.map((item) =>
    typeof item === 'string'
      ? { name: item }
      : {
          name: asString((item as Raw).name ?? (item as Raw).key),
          label: (item as Raw).label as string | undefined,
          unit: (item as Raw).unit as string | undefined,
          value: (item as Raw).value as number | string | null | undefined,
        },
  );
}

export function normaliseJob(raw: Raw): Job {
  const result = (pick(raw, 'result') as Raw | undefined) ?? {};
  let progress = pick(raw, 'progress') as number | undefined;
  if (typeof progress === 'number' && progress > 1) progress /= 100;
  const series = pick(raw, 'series_instance_uids', 'series_uids', 'source_series_uids');
  const oneSeries = pick(raw, 'series_instance_uid', 'series_uid');
  const actions = pick(raw, 'actions');
  const results = pick(raw, 'results');
  return {
    actions: Array.isArray(actions) ? actions.map(asString) : undefined,
    m0SeriesUid: asString(pick(raw, 'm0_series_instance_uid')) || undefined,
    results: Array.isArray(results)
      ? results.map((r: Raw) => ({
          version: Number(r.version ?? 0),
          series: (r.series as Record<string, string>) ?? {},
          superseded: Boolean(r.superseded),
        }))
      : [],
    schema: (pick(raw, 'parameter_schema') as Record<string, ParameterSchema>) ?? {},
    id: asString(pick(raw, 'id', 'job_id')),
    status: normaliseStatus(pick(raw, 'status', 'state')),
    studyUid: asString(pick(raw, 'study_instance_uid', 'study_uid')),
    seriesUids: Array.isArray(series) ? series.map(asString) : oneSeries ? [asString(oneSeries)] : [],
    patientName: asString(pick(raw, 'patient_name', 'patient')),
    patientId: asString(pick(raw, 'patient_id')),
    kind: [pick(raw, 'vendor'), pick(raw, 'labeling', 'kind', 'asl_type', 'sequence'), pick(raw, 'label')]
      .filter((v) => v != null && v !== '')
      .map(asString)
      .join(' · '),
    progress: typeof progress === 'number' ? progress : undefined,
    message: asString(pick(raw, 'message', 'failure_reason', 'error', 'reason')),
    missing: normaliseMissing(pick(raw, 'missing_parameters', 'missing')),
    parameters: (pick(raw, 'parameters') as Record<string, unknown>) ?? {},
    updatedAt: asString(pick(raw, 'updated_at', 'updated', 'created_at')),
    resultStudyUid: asString(pick(result, 'study_instance_uid') ?? pick(raw, 'study_instance_uid', 'study_uid')) || undefined,
    resultSeriesUid:
      asString(pick(result, 'cbf_series_uid', 'series_instance_uid') ?? pick(raw, 'result_series_uid', 'cbf_series_uid')) ||
      undefined,
  };
}

export interface JobPage {
  jobs: Job[];
  total?: number;
}

export function parseJobList(body: unknown): JobPage {
  if (Array.isArray(body)) return { jobs: body.map((j) => normaliseJob(j as Raw)) };
  const o = (body ?? {}) as Raw;
  const items = (pick(o, 'items', 'jobs', 'results') as Raw[] | undefined) ?? [];
  const total = pick(o, 'total', 'count');
  return { jobs: items.map(normaliseJob), total: typeof total === 'number' ? total : undefined };
}

async function call(method: string, url: string, body?: unknown): Promise<unknown> {
  const res = await fetch(url, {
    method,
    headers: body ? { 'Content-Type': 'application/json', Accept: 'application/json' } : { Accept: 'application/json' },
    body: body ? JSON.stringify(body) : undefined,
  });
  const text = await res.text();
  let parsed: unknown = undefined;
  try {
    parsed = text ? JSON.parse(text) : undefined;
  } catch {
    parsed = text;
  }
  if (!res.ok) {
    const detail = (parsed as Raw | undefined)?.detail ?? (parsed as Raw | undefined)?.error ?? text;
    throw new Error(`${res.status} ${typeof detail === 'string' ? detail : JSON.stringify(detail)}`);
  }
  return parsed;
}

export interface JobFilter {
  status?: string;
  patient?: string;
  study?: string;
  page?: number;
  pageSize?: number;
}

/** The server's state names differ from ours in one place: it calls waiting-for-parameters "waiting". */
export function serverStatus(status: string): string {
  return status === 'waiting_parameters' ? 'waiting' : status;
}

export function jobQuery(filter: JobFilter): URLSearchParams {
  const p = new URLSearchParams();
  const size = filter.pageSize ?? 50;
  if (filter.status) p.set('status', serverStatus(filter.status));
  if (filter.patient) p.set('patient', filter.patient);
  if (filter.study) p.set('study', filter.study);
  p.set('limit', String(size));
  p.set('offset', String(((filter.page ?? 1) - 1) * size));
  return p;
}

export async function listJobs(filter: JobFilter = {}): Promise<JobPage> {
  return parseJobList(await call('GET', `/api/jobs?${jobQuery(filter)}`));
}

export async function getJob(id: string): Promise<Job> {
  return normaliseJob((await call('GET', `/api/jobs/${id}`)) as Raw);
}

/** Which buttons a job gets: the server's list when it sends one, else what its state allows. */
export function allowedActions(job: Job): Set<string> {
  if (job.actions) return new Set(job.actions);
  const byState: Record<JobStatus, string[]> = {
    waiting_parameters: ['set_parameters', 'start', 'cancel', 'delete'],
    queued: ['set_parameters', 'start', 'cancel', 'delete'],
    running: ['cancel'],
    succeeded: ['rerun', 'delete'],
    failed: ['rerun', 'delete'],
    cancelled: ['rerun', 'delete'],
  };
  return new Set(byState[job.status]);
}

/** Latest current result's series by role (CBF, ATT, REPORT, …). */
export function currentResult(job: Job): Record<string, string> | undefined {
  const live = job.results.filter((r) => !r.superseded).sort((a, b) => b.version - a.version);
  return (live[0] ?? job.results[job.results.length - 1])?.series;
}

export const jobActions = {
  start: (id: string) => call('POST', `/api/jobs/${id}/start`),
  cancel: (id: string) => call('POST', `/api/jobs/${id}/cancel`),
  rerun: (id: string) => call('POST', `/api/jobs/${id}/rerun`),
  remove: (id: string) => call('DELETE', `/api/jobs/${id}`),
  setParameters: (id: string, params: Record<string, unknown>) => call('POST', `/api/jobs/${id}/parameters`, params),
};

export const reportUrl = (id: string, kind: 'pdf' | 'csv'): string => `/api/jobs/${id}/report.${kind}`;

/** Most recent job per study, for the study list's analysis column. */
export function latestJobByStudy(jobs: Job[]): Map<string, Job> {
  const out = new Map<string, Job>();
  for (const job of jobs) {
    const prev = out.get(job.studyUid);
    if (!prev || job.updatedAt > prev.updatedAt) out.set(job.studyUid, job);
  }
  return out;
}

/** Live job updates over Server-Sent Events; returns a function that closes the stream. */
export function subscribeJobs(onJob: (job: Job | null) => void, onState: (live: boolean) => void): () => void {
  if (typeof EventSource === 'undefined') return () => undefined;
  const source = new EventSource('/api/events');
  const handle = (ev: MessageEvent) => {
    try {
      const data = JSON.parse(ev.data) as Raw;
      const job = (data.job as Raw | undefined) ?? data;
      onJob(job && (job.id || job.job_id) ? normaliseJob(job) : null);
    } catch {
      onJob(null);
    }
  };
  source.onmessage = handle;
  for (const name of ['job', 'job.updated', 'job_updated', 'job.progress', 'progress']) source.addEventListener(name, handle as EventListener);
  source.onopen = () => onState(true);
  source.onerror = () => onState(false);
  return () => source.close();
}
