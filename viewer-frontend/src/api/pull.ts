// PACS pull administration (/api/pull): sources, rules, the queue and "why don't we have study X?".
// The shapes are the server's OpenAPI document's (schema.d.ts).
import type { components } from './schema';
import { requestJson } from './http';

type Schemas = components['schemas'];
export type PullSource = Schemas['PullSource'];
export type PullRule = Schemas['PullRule'];
export type PullStudy = Schemas['PullStudy'];
export type PullWhy = Schemas['PullWhy'];
export type PullHint = Schemas['PullHint'];
export type PullHintUpload = Schemas['PullHintUpload'];

export interface NewSource {
  name: string;
  ae_title: string;
  host: string;
  port: number;
  retrieve: 'move' | 'get';
  move_mode: 'sync' | 'async';
  mirror_group: string;
}

export interface NewRule {
  name: string;
  priority: number;
  days_back: number;
  study_filter: string;
  series_filter: string;
  receive_filter: string;
  repull_new_series: boolean;
}

export async function listSources(): Promise<PullSource[]> {
  return (await requestJson<Schemas['PullSourceList']>('/api/pull/sources')).sources;
}

export function createSource(source: NewSource): Promise<PullSource> {
  return requestJson<PullSource>('/api/pull/sources', { method: 'POST', json: source });
}

export async function listRules(): Promise<PullRule[]> {
  return (await requestJson<Schemas['PullRuleList']>('/api/pull/rules')).rules;
}

export function createRule(rule: NewRule): Promise<PullRule> {
  return requestJson<PullRule>('/api/pull/rules', { method: 'POST', json: rule });
}

export async function pullQueue(): Promise<PullStudy[]> {
  return (await requestJson<Schemas['PullQueue']>('/api/pull/queue')).studies;
}

/** "Why don't we have it?": a value with dots and digits only is a StudyInstanceUID, else an accession number. */
export function whyQuery(value: string): string {
  const v = value.trim();
  return /^[0-9.]+$/.test(v) && v.includes('.') ? `study=${encodeURIComponent(v)}` : `accession=${encodeURIComponent(v)}`;
}

export function whyNot(value: string): Promise<PullWhy> {
  return requestJson<PullWhy>(`/api/pull/why?${whyQuery(value)}`);
}

export function requestPull(studyUid: string): Promise<PullStudy> {
  return requestJson<PullStudy>('/api/pull/requests', { method: 'POST', json: { study_uid: studyUid } });
}

export async function listHints(): Promise<Schemas['PullHintList']> {
  return requestJson<Schemas['PullHintList']>('/api/pull/hints');
}

/** RIS/HIS orders: a .json file is sent as JSON ({"orders": [...]}), anything else as CSV. */
export async function uploadHints(file: File, replace: boolean): Promise<PullHintUpload> {
  const json = file.name.toLowerCase().endsWith('.json');
  return requestJson<PullHintUpload>(`/api/pull/hints?replace=${replace}`, {
    method: 'POST', body: await file.text(), headers: { 'Content-Type': json ? 'application/json' : 'text/csv' },
  });
}

type Translate = (key: string, params?: Record<string, string | number>) => string;

/** The why-not sentence in the UI's language: the server's code and parameters (a state is named in words). */
export function whySentence(why: Pick<PullWhy, 'summary_code' | 'summary_params'>, tr: Translate): string {
  const params: Record<string, string> = { ...why.summary_params };
  if (params.state) params.state = tr(`pull.state.${params.state}`);
  return tr(`pull.summary.${why.summary_code}`, params);
}
