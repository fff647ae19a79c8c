// STOW-RS (PS3.18 10.5): multipart/related bodies and the store response.
import type { DicomJson } from './dicomJson';
import { DICOMWEB } from './client';
import { send } from './http';

const FAILED_SOP_SEQUENCE = '00081198';
const REFERENCED_SOP_SEQUENCE = '00081199';
const REFERENCED_SOP_INSTANCE_UID = '00081155';
const FAILURE_REASON = '00081197';
const WARNING_REASON = '00081196';
const TEXT_VALUE = '0040A160';

export function makeBoundary(): string {
  const rand = Array.from(crypto.getRandomValues(new Uint8Array(12)), (b) => b.toString(16).padStart(2, '0'));
  return `cirrus-${rand.join('')}`;
}

/** A multipart/related body with one application/dicom part per file. */
export function multipartBody(parts: Blob[], boundary: string): Blob {
  const chunks: BlobPart[] = [];
  for (const part of parts) {
    chunks.push(`--${boundary}\r\nContent-Type: application/dicom\r\n\r\n`, part, '\r\n');
  }
  chunks.push(`--${boundary}--\r\n`);
  return new Blob(chunks, { type: 'application/octet-stream' });
}

export function contentType(boundary: string): string {
  return `multipart/related; type="application/dicom"; boundary=${boundary}`;
}

export type InstanceOutcome = 'stored' | 'refused';
export interface StoreResult {
  sopUid: string;
  outcome: InstanceOutcome;
  reason?: string;
}

/** Failure reasons from PS3.4 Annex GG / PS3.18 Table 10.5.3-1 that a person can act on. */
export const FAILURE_REASONS: Record<number, string> = {
  0x0110: 'processing failure',
  0x0122: 'SOP class not supported',
  0xa700: 'out of resources',
  0xa900: 'data set does not match SOP class',
  0xc000: 'cannot understand',
  0xc122: 'referenced transfer syntax not supported',
  0xa770: 'transfer syntax not supported',
  0x0111: 'duplicate SOP instance with different content',
  0x0112: 'no such object instance',
  0xc409: 'study instance UID mismatch',
};

function uidOf(item: DicomJson): string {
  return String(item[REFERENCED_SOP_INSTANCE_UID]?.Value?.[0] ?? '');
}

export function parseStoreResponse(body: DicomJson | undefined): StoreResult[] {
  if (!body) return [];
  const results: StoreResult[] = [];
  for (const item of (body[REFERENCED_SOP_SEQUENCE]?.Value ?? []) as DicomJson[]) {
    const warning = Number(item[WARNING_REASON]?.Value?.[0] ?? NaN);
    const result: StoreResult = { sopUid: uidOf(item), outcome: 'stored' };
    if (Number.isFinite(warning)) result.reason = `warning 0x${warning.toString(16).toUpperCase()}`;
    results.push(result);
  }
  for (const item of (body[FAILED_SOP_SEQUENCE]?.Value ?? []) as DicomJson[]) {
    const code = Number(item[FAILURE_REASON]?.Value?.[0] ?? NaN);
    const known = FAILURE_REASONS[code];
    const hex = Number.isFinite(code) ? `0x${code.toString(16).toUpperCase().padStart(4, '0')}` : 'unknown';
    const text = item[TEXT_VALUE]?.Value?.[0];
    const coded = known ? `${known} (${hex})` : hex;
    results.push({ sopUid: uidOf(item), outcome: 'refused', reason: text ? `${text} — ${coded}` : coded });
  }
  return results;
}

export interface BatchResponse {
  status: number;
  /** The store response (PS3.18 10.5.3): present with 200, 202 and 409. */
  body?: DicomJson;
}

/**
 * POST one batch with upload progress. 409 (nothing stored) is an answer with a store response, not a
 * failure; other statuses >= 400 reject with the ApiError of `send`.
 */
export async function postBatch(parts: Blob[], onProgress: (sentBytes: number, totalBytes: number) => void): Promise<BatchResponse> {
  const boundary = makeBoundary();
  const res = await send(`${DICOMWEB}/studies`, multipartBody(parts, boundary), {
    headers: { 'Content-Type': contentType(boundary), Accept: 'application/dicom+json' },
    expect: [409],
    onUploadProgress: onProgress,
  });
  const text = await res.text();
  let body: DicomJson | undefined;
  try {
    body = text ? (JSON.parse(text) as DicomJson) : undefined;
  } catch {
    body = undefined;
  }
  return { status: res.status, body };
}
