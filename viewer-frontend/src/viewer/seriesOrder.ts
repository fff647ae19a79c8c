// The order of the series list: results a re-run replaced go below the current series (they stay in
// the study and can still be opened); otherwise the study's own order is kept.
import { str, type DicomJson } from '../api/dicomJson';

export function currentFirst(series: DicomJson[], superseded: ReadonlySet<string> | undefined): DicomJson[] {
  if (!superseded?.size) return series;
  const old = (s: DicomJson) => (superseded.has(str(s, 'SeriesInstanceUID')) ? 1 : 0);
  return [...series].sort((a, b) => old(a) - old(b));
}
