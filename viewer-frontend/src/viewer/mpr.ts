// Whether a series is a volume MPR can reconstruct: parallel slices of one size and orientation at
// an even spacing (the volume loader stacks them on a regular grid; uneven gaps would distort it).
// The answer is a reason to show when it is not one.
import type { FrameRef } from '../api/client';
import { nums, num, str } from '../api/dicomJson';
import type { MessageKey } from '../i18n';
import { isMosaic } from './derived';

export interface Refusal {
  key: MessageKey;
  params?: Record<string, string | number>;
}

const MIN_SLICES = 3;
/** Orientation cosines may differ this much between slices of one volume. */
const COSINE_TOLERANCE = 1e-3;
/** Slice gaps may differ by this fraction of the median gap (rounding in the stored positions). */
const SPACING_TOLERANCE = 0.1;

const normal = (o: number[]): number[] => [o[1] * o[5] - o[2] * o[4], o[2] * o[3] - o[0] * o[5], o[0] * o[4] - o[1] * o[3]];

/** Why the ordered frames are no volume, or undefined when they are one. */
export function volumeRefusal(frames: FrameRef[]): Refusal | undefined {
  const metas = frames.map((f) => f.meta);
  if (metas.some((m) => isMosaic(m))) return { key: 'viewer.mprMosaic' };
  if (frames.length < MIN_SLICES) return { key: 'viewer.mprTooFew', params: { count: frames.length } };
  if (metas.some((m) => !str(m, 'PhotometricInterpretation').startsWith('MONOCHROME'))) return { key: 'viewer.mprNotImage' };
  // Multi-frame instances carry their planes in functional groups: not read here, so not offered.
  if (metas.some((m) => (num(m, 'NumberOfFrames') ?? 1) > 1)) return { key: 'viewer.mprNoGeometry' };
  const rows = num(metas[0], 'Rows');
  const columns = num(metas[0], 'Columns');
  if (metas.some((m) => num(m, 'Rows') !== rows || num(m, 'Columns') !== columns)) return { key: 'viewer.mprFrames' };
  const positions = metas.map((m) => nums(m, 'ImagePositionPatient'));
  const orientations = metas.map((m) => nums(m, 'ImageOrientationPatient'));
  if (positions.some((p) => p.length !== 3) || orientations.some((o) => o.length !== 6)) return { key: 'viewer.mprNoGeometry' };
  const first = orientations[0];
  if (orientations.some((o) => o.some((v, k) => Math.abs(v - first[k]) > COSINE_TOLERANCE))) return { key: 'viewer.mprNotParallel' };
  const n = normal(first);
  const along = positions.map((p) => p[0] * n[0] + p[1] * n[1] + p[2] * n[2]);
  const gaps = along.slice(1).map((d, k) => Math.abs(d - along[k]));
  const sorted = [...gaps].sort((a, b) => a - b);
  const median = sorted[Math.floor(sorted.length / 2)];
  // Two images at one position (a repeated slice, several echoes) are not a volume either.
  if (!(median > 0) || sorted[0] < median * (1 - SPACING_TOLERANCE) || sorted[sorted.length - 1] > median * (1 + SPACING_TOLERANCE)) {
    return { key: 'viewer.mprUneven', params: { min: sorted[0].toFixed(2), max: sorted[sorted.length - 1].toFixed(2) } };
  }
  return undefined;
}
