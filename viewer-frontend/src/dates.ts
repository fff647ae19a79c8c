// Date presets for the study list, as DICOM DA range bounds (YYYYMMDD); an empty bound is open.
export type DatePreset = 'any' | 'today' | 'last2' | 'lastWeek' | 'custom';
export interface DateRange {
  from: string;
  to: string;
}

export function toDA(d: Date): string {
  const y = d.getFullYear();
  const m = String(d.getMonth() + 1).padStart(2, '0');
  const day = String(d.getDate()).padStart(2, '0');
  return `${y}${m}${day}`;
}

/** "2024-01-31" (from an <input type=date>) → "20240131"; invalid → "". */
export function isoToDA(iso: string): string {
  return /^\d{4}-\d{2}-\d{2}$/.test(iso) ? iso.replaceAll('-', '') : '';
}

export function presetRange(preset: DatePreset, now: Date, custom?: { from: string; to: string }): DateRange {
  const daysBack = (n: number): string => {
    const d = new Date(now.getFullYear(), now.getMonth(), now.getDate() - n);
    return toDA(d);
  };
  switch (preset) {
    case 'today':
      return { from: toDA(now), to: toDA(now) };
    case 'last2':
      return { from: daysBack(1), to: toDA(now) };
    case 'lastWeek':
      return { from: daysBack(6), to: toDA(now) };
    case 'custom':
      return { from: isoToDA(custom?.from ?? ''), to: isoToDA(custom?.to ?? '') };
    default:
      return { from: '', to: '' };
  }
}
