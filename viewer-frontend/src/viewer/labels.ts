// How a series is named in the viewer's panel and on its viewports.
import { num, str, type DicomJson } from '../api/dicomJson';

export function seriesLabel(s: DicomJson | undefined): string {
  const n = num(s, 'SeriesNumber');
  return `${n ?? ''} ${str(s, 'Modality')} ${str(s, 'SeriesDescription')}`.trim();
}
