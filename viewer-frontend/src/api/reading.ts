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
export type ReportTemplate = Schemas['ReportTemplate'];
export type SavedFilter = Schemas['SavedFilter'];
export type InstitutionLogo = Schemas['InstitutionLogo'];
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
  const method = ms[0].source?.startsWith('DCE') ? 'DCE' : 'ASL';
  const block = [`${method}${source}:`, ...ms.map(measurementLine)].join('\n');
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

// -- templates, saved filter sets, the printed report with a share link, hospital logos ------------------------

export const listTemplates = (modality = '', bodyPart = ''): Promise<{ templates: ReportTemplate[] }> =>
  requestJson(`${API}/templates?${new URLSearchParams({ modality, body_part: bodyPart })}`);
export type TemplateBody = Pick<ReportTemplate, 'name' | 'modality' | 'body_part' | 'findings' | 'impression' | 'fields'> & { key?: string };
export const createTemplate = (body: TemplateBody & { key: string }): Promise<ReportTemplate> =>
  requestJson(`${API}/templates`, { method: 'POST', json: body });
export const saveTemplate = (key: string, body: TemplateBody): Promise<ReportTemplate> =>
  requestJson(`${API}/templates/${encodeURIComponent(key)}`, { method: 'PUT', json: body });
export const deleteTemplate = (key: string): Promise<Response> =>
  request(`${API}/templates/${encodeURIComponent(key)}`, { method: 'DELETE' });

/** A template applied to the report: its text where the report is empty, else appended (nothing is lost). */
export function applyTemplate(content: { findings: string; impression: string }, t: Pick<ReportTemplate, 'findings' | 'impression'>): { findings: string; impression: string } {
  const join = (have: string, add: string): string => (!add.trim() ? have : !have.trim() ? add : `${have.replace(/\s+$/, '')}\n${add}`);
  return { findings: join(content.findings, t.findings), impression: join(content.impression, t.impression) };
}

/** The part of a worklist filter a saved set keeps (no paging, no time zone), as the server's query names. */
export function savedFilterOf(f: WorklistFilter): Record<string, string> {
  const q = Object.fromEntries(worklistQuery({ ...f, page: 1 }).entries());
  delete q.limit;
  delete q.offset;
  delete q.tz;
  return q;
}
/** A saved set back as the page's filter. */
export function filterOfSaved(saved: Record<string, string>, list: WorklistName): WorklistFilter {
  return {
    list: (saved.list as WorklistName) || list, state: (saved.state as ReadingState) || '',
    preset: (saved.preset as TimePreset) || 'all', from: saved.from ?? '', to: saved.to ?? '', digit: saved.digit ?? '',
    requesting: saved.requesting ? Number(saved.requesting) : '', q: saved.q ?? '', exact: saved.exact === '1',
  };
}
export const listSavedFilters = (): Promise<{ filters: SavedFilter[] }> => requestJson(`${API}/filters`);
export const saveFilterSet = (name: string, filters: Record<string, string>): Promise<SavedFilter> =>
  requestJson(`${API}/filters`, { method: 'POST', json: { name, filters } });
export const deleteFilterSet = (id: number): Promise<Response> => request(`${API}/filters/${id}`, { method: 'DELETE' });

/** The report PDF with the patient's share link printed in it (the link this page made and its code). */
export async function reportPdfWithShare(id: number, lang: string, share: string, code: string): Promise<Blob> {
  const res = await request(`${API}/requests/${id}/report.pdf?lang=${encodeURIComponent(lang)}`, {
    method: 'POST', json: { share, code }, accept: 'application/pdf',
  });
  return res.blob();
}

export const logoUrl = (institutionId: number): string => `/api/institutions/${institutionId}/logo`;
export const putLogo = (institutionId: number, file: Blob): Promise<InstitutionLogo> =>
  requestJson(logoUrl(institutionId), { method: 'PUT', body: file, headers: { 'Content-Type': file.type } });
export const deleteLogo = (institutionId: number): Promise<Response> => request(logoUrl(institutionId), { method: 'DELETE' });
