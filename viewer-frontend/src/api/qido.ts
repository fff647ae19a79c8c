// Building QIDO-RS study queries (PS3.18 10.6) from the study-list form.
import type { DateRange } from '../dates';

export interface StudyQuery {
  patientName?: string;
  patientId?: string;
  accession?: string;
  modality?: string;
  dates?: DateRange;
  limit: number;
  offset: number;
}

export const STUDY_INCLUDE_FIELDS = [
  '00081030', // StudyDescription
  '00080061', // ModalitiesInStudy
  '00201206', // NumberOfStudyRelatedSeries
  '00201208', // NumberOfStudyRelatedInstances
  '00100030', // PatientBirthDate
];

/**
 * A free-text name search should find "DOE^JOHN" from "doe": without wildcards we match a prefix.
 * An explicit * or ? is passed through as the user wrote it.
 */
export function nameMatcher(text: string): string {
  const trimmed = text.trim();
  if (!trimmed) return '';
  if (/[*?]/.test(trimmed)) return trimmed;
  return `${trimmed}*`;
}

export function studyQueryParams(q: StudyQuery): URLSearchParams {
  const p = new URLSearchParams();
  const name = nameMatcher(q.patientName ?? '');
  if (name) p.set('PatientName', name);
  if (q.patientId?.trim()) p.set('PatientID', q.patientId.trim());
  if (q.accession?.trim()) p.set('AccessionNumber', q.accession.trim());
  if (q.modality) p.set('ModalitiesInStudy', q.modality);
  if (q.dates && (q.dates.from || q.dates.to)) p.set('StudyDate', `${q.dates.from}-${q.dates.to}`);
  p.set('includefield', STUDY_INCLUDE_FIELDS.join(','));
  // One extra row tells us whether a next page exists without a count query.
  p.set('limit', String(q.limit + 1));
  p.set('offset', String(q.offset));
  return p;
}
