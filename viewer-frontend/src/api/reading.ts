// The reading workflow API (/api/reading). Types come from the server's OpenAPI document (schema.d.ts).
import type { components, operations } from './schema';
import { request, requestJson } from './http';

type Schemas = components['schemas'];
export type ReadingState = Schemas['ReadingState'];
export type ReadingAction = Schemas['ReadingAction'];
export type ReadingSummary = Schemas['ReadingSummary'];
export type ReadingRequest = Schemas['ReadingRequest'];
export type ReadingPage = Schemas['ReadingPage'];
export type ReadingCounts = Schemas['ReadingCounts'];
export type ReadingInstitutions = Schemas['ReadingInstitutions'];
export type ReportVersion = Schemas['ReportVersion'];
export type ReportDiff = Schemas['ReportDiff'];
export type ReportContent = Schemas['ReportContent'];
export type Measurement = Schemas['Measurement'];
export type KeyImage = Schemas['KeyImage'];
export type KeyImageCapture = Schemas['ReadingKeyImageCapture'];
export type NewReadingRequest = Schemas['NewReadingRequest'];
export type Quantities = Schemas['Quantities'];
export type ReadingAttachment = Schemas['ReadingAttachment'];
type ListQuery = NonNullable<operations['listReadingRequests']['parameters']['query']>;
export type WorklistName = NonNullable<ListQuery['list']>;
export type TimePreset = NonNullable<ListQuery['preset']>;
export type ActionSegment = operations['readingAction']['parameters']['path']['action'];

const API = '/api/reading';

/** Every state in the order a request goes through them (the build fails when the server gains one). */
export const READING_STATES = [
  'to_report', 'reporting', 'reported', 'in_review', 'approved', 'returned', 'sent_back', 'cancelled',
] as const satisfies readonly ReadingState[];
const EVERY_STATE_LISTED: Exclude<ReadingState, (typeof READING_STATES)[number]> extends never ? true : never = true;
void EVERY_STATE_LISTED;

/** The worklist tabs, in the order they are shown. */
export const WORKLISTS = [
  'to_report', 'reporting', 'review', 'approved', 'mine', 'assistance', 'cancelled', 'all',
] as const satisfies readonly WorklistName[];

export interface WorklistFilter {
  list: WorklistName;
  state?: ReadingState | '';
  preset?: TimePreset;
  from?: string;
  to?: string;
  digit?: string;
  requesting?: number | '';
  q?: string;
  exact?: boolean;
  page?: number;
  pageSize?: number;
  /** Minutes east of UTC (the browser's), so that "today" is the user's day. */
  tz?: number;
}

export function worklistQuery(f: WorklistFilter): URLSearchParams {
  const size = f.pageSize ?? 50;
  const q: ListQuery = { list: f.list, limit: size, offset: ((f.page ?? 1) - 1) * size };
  if (f.state) q.state = f.state;
  if (f.preset && f.preset !== 'all') q.preset = f.preset;
  if (f.preset === 'custom') {
    if (f.from) q.from = f.from;
    if (f.to) q.to = f.to;
  }
  if (f.digit) q.digit = f.digit;
  if (f.requesting) q.requesting = f.requesting;
  if (f.q?.trim()) q.q = f.q.trim();
  if (f.exact) q.exact = '1';
  if (f.tz !== undefined && f.preset && f.preset !== 'all') q.tz = f.tz;
  return new URLSearchParams(Object.entries(q).map(([k, v]) => [k, String(v)]));
}

export const listRequests = (f: WorklistFilter): Promise<ReadingPage> => requestJson(`${API}/requests?${worklistQuery(f)}`);
export const readingCounts = (): Promise<ReadingCounts> => requestJson(`${API}/counts`);
export const readingInstitutions = (): Promise<ReadingInstitutions> => requestJson(`${API}/institutions`);
export const getRequest = (id: number): Promise<ReadingRequest> => requestJson(`${API}/requests/${id}`);
export const createRequest = (body: NewReadingRequest): Promise<ReadingRequest> =>
  requestJson(`${API}/requests`, { method: 'POST', json: body });

export function addAttachment(id: number, file: File): Promise<ReadingAttachment> {
  return requestJson(`${API}/requests/${id}/attachments?filename=${encodeURIComponent(file.name)}`, {
    method: 'POST',
    body: file,
    headers: { 'Content-Type': file.type || 'application/octet-stream' },
  });
}
export const attachmentUrl = (id: number, attachmentId: number): string => `${API}/requests/${id}/attachments/${attachmentId}`;

/** A transition of the server's state table; the URL segment is the action with hyphens. */
export function segmentOf(action: ReadingAction): ActionSegment | undefined {
  if (action === 'create' || action === 'save') return undefined;
  return action.replaceAll('_', '-') as ActionSegment;
}

export function act(
  id: number,
  action: ReadingAction,
  body: { reason?: string; comment?: string; institution_id?: number } = {},
  lang?: string,
): Promise<ReadingRequest> {
  const segment = segmentOf(action);
  if (!segment) throw new Error(`${action} is not a transition with its own URL`);
  const query = lang ? `?lang=${encodeURIComponent(lang)}` : '';
  return requestJson(`${API}/requests/${id}/${segment}${query}`, { method: 'POST', json: body });
}

export const saveReport = (id: number, content: ReportContent): Promise<ReportVersion> =>
  requestJson(`${API}/requests/${id}/report`, { method: 'PUT', json: content });
export const versionDiff = (id: number, n: number, against?: number): Promise<ReportDiff> =>
  requestJson(`${API}/requests/${id}/versions/${n}/diff${against ? `?against=${against}` : ''}`);
/** Store a viewport capture (PNG) for the report being written; name its `capture` in key_images. */
export const addKeyImage = (id: number, png: Blob): Promise<KeyImageCapture> =>
  requestJson(`${API}/requests/${id}/key-images`, { method: 'POST', body: png, headers: { 'Content-Type': 'image/png' } });
export const keyImageUrl = (id: number, digest: string): string => `${API}/requests/${id}/key-images/${digest}`;
export const quantities = (id: number): Promise<Quantities> => requestJson(`${API}/requests/${id}/quantities`);
export const reportPdfUrl = (id: number, lang: string, version?: number): string =>
  `${API}/requests/${id}/report.pdf?lang=${encodeURIComponent(lang)}${version ? `&version=${version}` : ''}`;
export const linkStudies = (id: number, uids: string[]): Promise<ReadingRequest> =>
  requestJson(`${API}/requests/${id}/studies`, { method: 'POST', json: { study_uids: uids } });
export const unlinkStudy = (id: number, uid: string): Promise<Response> =>
  request(`${API}/requests/${id}/studies/${encodeURIComponent(uid)}`, { method: 'DELETE' });

/** One line of report text for a number of the analysis, e.g. "CBF whole brain: 47.5 ml/100g/min". */
export function measurementLine(m: Measurement): string {
  const value = Number.isInteger(m.value) ? String(m.value) : m.value.toFixed(2).replace(/0$/, '');
  return `${m.name}: ${value} ${m.unit_label || m.unit}`;
}

/** The analysis numbers as a paragraph appended to the findings (with its source), one line each. */
export function insertMeasurements(findings: string, ms: Measurement[]): string {
  if (!ms.length) return findings;
  const source = ms[0].source ? ` (${ms[0].source})` : '';
  const block = [`ASL${source}:`, ...ms.map(measurementLine)].join('\n');
  return findings.trim() ? `${findings.replace(/\s+$/, '')}\n${block}` : block;
}

/** Merge numbers into a list by name (newer values replace older ones of the same name). */
export function mergeMeasurements(have: Measurement[], add: Measurement[]): Measurement[] {
  const names = new Set(add.map((m) => m.name));
  return [...have.filter((m) => !names.has(m.name)), ...add];
}

/** The report content of a version (what the editor starts from). */
export function contentOf(v: ReportVersion | undefined): Required<ReportContent> {
  return {
    findings: v?.findings ?? '',
    impression: v?.impression ?? '',
    fields: { ...(v?.fields ?? {}) },
    measurements: [...(v?.measurements ?? [])],
    key_images: [...(v?.key_images ?? [])],
    template_id: v?.template_id ?? '',
  };
}

export function sameContent(a: ReportContent, b: ReportContent): boolean {
  return JSON.stringify(contentOf(a as ReportVersion)) === JSON.stringify(contentOf(b as ReportVersion));
}

/**
 * The buttons of a request for its viewer: the server's `actions` (its state table, by role and side) less
 * those the lock rules out: submit for anyone but the holder, taking over a live lock or one's own, releasing
 * someone else's lock unless an administrator. Assistance has its own control.
 */
export function shownActions(req: Pick<ReadingRequest, 'actions' | 'lock'>, isAdmin: boolean): ReadingAction[] {
  const lock = req.lock;
  return req.actions.filter((a) => {
    if (a === 'request_assistance') return false;
    if (a === 'take_over') return !!lock && lock.expired && !lock.mine;
    if (a === 'submit') return !!lock?.mine;
    if (a === 'release') return !!lock?.mine || isAdmin;
    return true;
  });
}
