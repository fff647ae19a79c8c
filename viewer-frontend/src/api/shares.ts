// Patient share links (types from the server's OpenAPI document, schema.d.ts): staff create/list/revoke them; the share page exchanges the access code for a
// short-lived `shr_` token and sends it as a Bearer header with every request (images are fetched as
// blobs, so the token never appears in a URL).
import { ApiError, request, requestJson } from './http';
import type { components } from './schema';
import { WL_PRESETS, type PresetName } from '../viewer/presets';

type Schemas = components['schemas'];
export type CodeKind = Schemas['ShareLink']['code_kind'];
export type ShareState = Schemas['ShareLink']['state'];
export type ShareLink = Schemas['ShareLink'];
export type CreatedShare = Schemas['NewShareLink'];

export interface ShareOptions {
  expiresInDays: number;
  codeKind: CodeKind;
  allowDownload: boolean;
  seriesUid?: string;
}

export function createShare(studyUid: string, o: ShareOptions): Promise<CreatedShare> {
  return requestJson<CreatedShare>(`/api/studies/${encodeURIComponent(studyUid)}/shares`, {
    method: 'POST',
    json: { expires_in_days: o.expiresInDays, code_kind: o.codeKind, allow_download: o.allowDownload, series_uid: o.seriesUid },
  });
}

export async function listShares(studyUid: string): Promise<ShareLink[]> {
  return (await requestJson<{ shares: ShareLink[] }>(`/api/studies/${encodeURIComponent(studyUid)}/shares`)).shares;
}

export function revokeShare(id: string): Promise<ShareLink> {
  return requestJson<ShareLink>(`/api/shares/${encodeURIComponent(id)}`, { method: 'DELETE' });
}

// -- the patient's page ---------------------------------------------------------------------------

export type ShareSeries = Schemas['ShareSeries'];
export type ShareReport = Schemas['ShareReport'];
export type ShareView = Schemas['ShareView'];
export type ShareSession = Schemas['ShareSession'];

/** What a failed exchange means for the patient (the page shows a sentence per kind). */
export type ExchangeFailure = 'wrong' | 'locked' | 'throttled' | 'gone' | 'notFound' | 'other';

export function exchangeFailure(status: number): ExchangeFailure {
  if (status === 403) return 'wrong';
  if (status === 423) return 'locked';
  if (status === 429) return 'throttled';
  if (status === 410) return 'gone';
  if (status === 404) return 'notFound';
  return 'other';
}

export function exchangeCode(id: string, code: string): Promise<ShareSession> {
  return requestJson<ShareSession>(`/api/shares/${encodeURIComponent(id)}/exchange`, { method: 'POST', json: { code } });
}

const auth = (token: string) => ({ Authorization: `Bearer ${token}` });

export function shareView(id: string, token: string): Promise<ShareView> {
  return requestJson<ShareView>(`/api/shares/${encodeURIComponent(id)}/view`, { headers: auth(token) });
}

export interface Slice {
  seriesUid: string;
  sopInstanceUid: string;
  frame: number;
}

/** Every frame of a series in order: single-frame instances one by one, multi-frame ones frame by frame. */
export function slicesOf(series: ShareSeries): Slice[] {
  const out: Slice[] = [];
  for (const inst of series.instances) {
    for (let f = 1; f <= Math.max(1, inst.frames); f++) out.push({ seriesUid: series.series_uid, sopInstanceUid: inst.sop_instance_uid, frame: f });
  }
  return out;
}

export interface WindowChoice {
  id: string;
  /** A viewer preset name, or 'default' (the image's own window), 'soft' and 'sharp' (wider / narrower). */
  label: PresetName | 'default' | 'soft' | 'sharp';
  window?: { center: number; width: number };
}

/** W/L presets for a series: CT windows for CT; for other images the stored window, widened or narrowed. */
export function windowChoices(series: ShareSeries): WindowChoice[] {
  const out: WindowChoice[] = [{ id: 'default', label: 'default' }];
  if (series.modality === 'CT') {
    for (const name of ['brain', 'abdomen', 'lung', 'bone'] as PresetName[]) out.push({ id: name, label: name, window: WL_PRESETS[name] });
    return out;
  }
  const { center, width } = series.window;
  if (center !== null && width !== null && width > 0) {
    out.push({ id: 'soft', label: 'soft', window: { center, width: width * 2 } });
    out.push({ id: 'sharp', label: 'sharp', window: { center, width: Math.max(1, width / 2) } });
  }
  return out;
}

/** The server-rendered frame (PS3.18 §9.5) of a slice, in the study's DICOMweb tree. */
export function renderedPath(studyUid: string, s: Slice, choice?: WindowChoice, size = 1024): string {
  const e = encodeURIComponent;
  const params = new URLSearchParams({ viewport: `${size},${size}` });
  if (choice?.window) params.set('window', `${choice.window.center},${choice.window.width},linear`);
  return `/dicom-web/studies/${e(studyUid)}/series/${e(s.seriesUid)}/instances/${e(s.sopInstanceUid)}/frames/${s.frame}/rendered?${params}`;
}

/** A URL the page can show: fetched with the token and turned into an object URL (revoke it when done). */
export async function fetchObjectUrl(path: string, token: string, accept = 'image/jpeg'): Promise<string> {
  const res = await request(path, { headers: auth(token), accept });
  return URL.createObjectURL(await res.blob());
}

export { ApiError };
