// Window presets (centre/width in HU) as commonly used in CT reading.
export type PresetName = 'brain' | 'stroke' | 'lung' | 'bone' | 'abdomen';
export const WL_PRESETS: Record<PresetName, { center: number; width: number }> = {
  brain: { center: 40, width: 80 },
  stroke: { center: 32, width: 8 },
  lung: { center: -600, width: 1500 },
  bone: { center: 400, width: 1800 },
  abdomen: { center: 60, width: 400 },
};

/** Centre/width → the lower/upper bounds cornerstone's VOI range uses (PS3.3 C.11.2.1.2, linear). */
export function windowToRange(center: number, width: number): { lower: number; upper: number } {
  const w = Math.max(1, width);
  return { lower: center - w / 2, upper: center + w / 2 };
}

export function rangeToWindow(lower: number, upper: number): { center: number; width: number } {
  return { center: (lower + upper) / 2, width: upper - lower };
}
