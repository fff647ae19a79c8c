// PACS pull administration (/api/pull): sources, rules, the queue and "why don't we have study X?".
// The shapes are the server's OpenAPI document's (schema.d.ts).
import type { components } from './schema';
import { requestJson } from './http';

type Schemas = components['schemas'];
export type PullSource = Schemas['PullSource'];
export type PullRule = Schemas['PullRule'];
export type PullStudy = Schemas['PullStudy'];
export type PullWhy = Schemas['PullWhy'];

export interface NewSource {
  name: string;
  ae_title: string;
  host: string;
  port: number;
  retrieve: 'move' | 'get';
  mirror_group: string;
}

export interface NewRule {
  name: string;
  priority: number;
  days_back: number;
  study_filter: string;
  series_filter: string;
  receive_filter: string;
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
