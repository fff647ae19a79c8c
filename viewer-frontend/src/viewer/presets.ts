// Window presets by what the image holds: Hounsfield windows for CT only, value ranges in the map's own
// unit for perfusion maps (CBF in ml/100g/min, ATT in s), and for MR (arbitrary units) a window from
// the image's histogram.
import type { MessageKey } from '../i18n';
import type { Quantity } from './derived';

export type PresetName = 'brain' | 'stroke' | 'lung' | 'bone' | 'abdomen';
/** CT windows (centre/width in HU) as commonly used in CT reading. */
export const WL_PRESETS: Record<PresetName, { center: number; width: number }> = {
  brain: { center: 40, width: 80 },
  stroke: { center: 32, width: 8 },
  lung: { center: -600, width: 1500 },
  bone: { center: 400, width: 1800 },
  abdomen: { center: 60, width: 400 },
};

/** What the presets are chosen by. */
export type ImageKind = 'CT' | Quantity | 'MR' | 'other';

export interface Preset {
  id: string;
  /** Message key of the label; `detail` is appended (a range or centre/width). */
  label: MessageKey;
  detail: string;
  /** A fixed range in the image's values, or `auto`: from the histogram of the image shown. */
  range: { lower: number; upper: number } | 'auto';
}

export function imageKind(modality: string, quantity: Quantity | undefined): ImageKind {
  if (quantity) return quantity;
  if (modality === 'CT') return 'CT';
  if (modality === 'MR') return 'MR';
  return 'other';
}

const AUTO: Preset = { id: 'auto', label: 'viewer.preset.auto', detail: '', range: 'auto' };
const span = (id: string, lower: number, upper: number, unit: string, label: MessageKey = 'viewer.preset.range'): Preset => ({
  id,
  label,
  detail: `${lower}–${upper} ${unit}`,
  range: { lower, upper },
});

/** The presets offered for an image (the default, i.e. the file's own window, is always offered too). */
export function presetsFor(kind: ImageKind): Preset[] {
  switch (kind) {
    case 'CT':
      return (Object.keys(WL_PRESETS) as PresetName[]).map((name) => ({
        id: name,
        label: `viewer.preset.${name}` as MessageKey,
        detail: `${WL_PRESETS[name].width}/${WL_PRESETS[name].center}`,
        range: windowToRange(WL_PRESETS[name].center, WL_PRESETS[name].width),
      }));
    case 'CBF':
      return [span('cbf80', 0, 80, 'ml/100g/min'), span('cbf100', 0, 100, 'ml/100g/min'), AUTO];
    case 'ATT':
      return [span('att', 0.5, 2.5, 's'), AUTO];
    case 'KTRANS':
      return [span('ktrans', 0, 0.5, '/min'), AUTO];
    case 'KEP':
      return [span('kep', 0, 2, '/min'), AUTO];
    case 'VE':
      return [span('ve', 0, 1, ''), AUTO];
    case 'VP':
      return [span('vp', 0, 0.2, ''), AUTO];
    default:
      return [AUTO];
  }
}

/**
 * A window from the histogram: the 1st to the 99.5th percentile of the non-background values (values
 * at the image minimum, the air around the head, are left out), so a few bright vessels or a dark
 * background do not squeeze the tissue into a few grey levels.
 */
export function histogramWindow(values: ArrayLike<number>, lowQ = 0.01, highQ = 0.995): { lower: number; upper: number } {
  let min = Infinity;
  let max = -Infinity;
  for (let i = 0; i < values.length; i += 1) {
    if (values[i] < min) min = values[i];
    if (values[i] > max) max = values[i];
  }
  if (!(max > min)) return { lower: min - 0.5, upper: min + 0.5 };
  const bins = 1024;
  const counts = new Uint32Array(bins);
  const scale = (bins - 1) / (max - min);
  let total = 0;
  for (let i = 0; i < values.length; i += 1) {
    if (values[i] === min) continue;
    counts[Math.floor((values[i] - min) * scale)] += 1;
    total += 1;
  }
  if (!total) return { lower: min, upper: max };
  const at = (q: number): number => {
    let seen = 0;
    for (let b = 0; b < bins; b += 1) {
      seen += counts[b];
      if (seen >= q * total) return min + b / scale;
    }
    return max;
  };
  const lower = at(lowQ);
  const upper = Math.max(at(highQ), lower + (max - min) / bins);
  return { lower, upper };
}

/** Centre/width → the lower/upper bounds cornerstone's VOI range uses (PS3.3 C.11.2.1.2, linear). */
export function windowToRange(center: number, width: number): { lower: number; upper: number } {
  const w = Math.max(1, width);
  return { lower: center - w / 2, upper: center + w / 2 };
}

export function rangeToWindow(lower: number, upper: number): { center: number; width: number } {
  return { center: (lower + upper) / 2, width: upper - lower };
}
