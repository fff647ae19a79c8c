// Network calls to the Cirrus server's DICOMweb endpoints (same origin).
import type { DicomJson } from './dicomJson';
import { TAGS, num, str } from './dicomJson';
import { studyQueryParams, type StudyQuery } from './qido';
import { requestJson } from './http';

export const DICOMWEB = '/dicom-web';

/** QIDO-RS / WADO-RS metadata: DICOM JSON, or nothing (204) for an empty match. */
function getDicomJson(url: string, signal?: AbortSignal): Promise<DicomJson[]> {
  return requestJson<DicomJson[]>(url, { accept: 'application/dicom+json, application/json', signal, empty: [] });
}

export interface StudyPage {
  studies: DicomJson[];
  hasMore: boolean;
}

export async function searchStudies(q: StudyQuery, signal?: AbortSignal): Promise<StudyPage> {
  const rows = await getDicomJson(`${DICOMWEB}/studies?${studyQueryParams(q)}`, signal);
  return { studies: rows.slice(0, q.limit), hasMore: rows.length > q.limit };
}

export async function listSeries(studyUid: string, signal?: AbortSignal): Promise<DicomJson[]> {
  const rows = await getDicomJson(
    `${DICOMWEB}/studies/${studyUid}/series?includefield=0008103E,00080021,00200011,00201209,00080008`,
    signal,
  );
  return rows.sort((a, b) => (num(a, 'SeriesNumber') ?? 1e9) - (num(b, 'SeriesNumber') ?? 1e9));
}

/** One instance of a series at QIDO instance level (SOP Class UID, ImageType): what kind of object it is. */
export async function firstInstance(studyUid: string, seriesUid: string, signal?: AbortSignal): Promise<DicomJson | undefined> {
  const rows = await getDicomJson(`${DICOMWEB}/studies/${studyUid}/series/${seriesUid}/instances?limit=1&includefield=00080008`, signal);
  return rows[0];
}

export async function seriesMetadata(studyUid: string, seriesUid: string, signal?: AbortSignal): Promise<DicomJson[]> {
  return getDicomJson(`${DICOMWEB}/studies/${studyUid}/series/${seriesUid}/metadata`, signal);
}

export function studyThumbnailUrl(studyUid: string): string {
  return `${DICOMWEB}/studies/${studyUid}/thumbnail?viewport=96,96`;
}
export function seriesThumbnailUrl(studyUid: string, seriesUid: string): string {
  return `${DICOMWEB}/studies/${studyUid}/series/${seriesUid}/thumbnail?viewport=96,96`;
}
export function renderedFrameUrl(
  studyUid: string,
  seriesUid: string,
  sopUid: string,
  frame: number,
  voi?: { center: number; width: number },
): string {
  const base = `${DICOMWEB}/studies/${studyUid}/series/${seriesUid}/instances/${sopUid}/frames/${frame}/rendered`;
  const params = new URLSearchParams({ viewport: '1024,1024' });
  if (voi) params.set('window', `${Math.round(voi.center)},${Math.round(voi.width)},linear`);
  return `${base}?${params}`;
}

/**
 * Order a series' instances for display: by position along the slice normal when geometry is present,
 * else by InstanceNumber. Multi-frame instances expand to one entry per frame.
 */
export interface FrameRef {
  sopUid: string;
  frame: number;
  meta: DicomJson;
}
export function orderFrames(instances: DicomJson[]): FrameRef[] {
  const withKey = instances.map((meta) => ({ meta, key: sortKey(meta) }));
  withKey.sort((a, b) => a.key - b.key);
  const frames: FrameRef[] = [];
  for (const { meta } of withKey) {
    const count = num(meta, 'NumberOfFrames') ?? 1;
    for (let f = 1; f <= count; f += 1) frames.push({ sopUid: str(meta, 'SOPInstanceUID'), frame: f, meta });
  }
  return frames;
}

function sortKey(meta: DicomJson): number {
  const ipp = meta[TAGS.ImagePositionPatient]?.Value?.map(Number);
  const iop = meta[TAGS.ImageOrientationPatient]?.Value?.map(Number);
  if (ipp?.length === 3 && iop?.length === 6 && [...ipp, ...iop].every(Number.isFinite)) {
    const [r0, r1, r2, c0, c1, c2] = iop;
    const n = [r1 * c2 - r2 * c1, r2 * c0 - r0 * c2, r0 * c1 - r1 * c0];
    // Negated so the first image is the most superior/anterior slice, as radiologists expect for axials.
    return -(ipp[0] * n[0] + ipp[1] * n[1] + ipp[2] * n[2]);
  }
  return num(meta, 'InstanceNumber') ?? 0;
}
