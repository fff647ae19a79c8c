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

/**
 * A server timestamp (ISO 8601; one without an offset is UTC, as the server stores it) as local date
 * and time with the zone, in the UI's language: "2024-01-31 18:05:09 GMT+8". An unparsable text is
 * returned as it came.
 */
export function localDateTime(iso: string, locale: string, timeZone?: string): string {
  const hasZone = /(?:Z|[+-]\d{2}:?\d{2})$/i.test(iso);
  const when = new Date(hasZone ? iso : `${iso}Z`);
  if (Number.isNaN(when.getTime())) return iso;
  const parts = new Intl.DateTimeFormat(locale, {
    year: 'numeric',
    month: '2-digit',
    day: '2-digit',
    hour: '2-digit',
    minute: '2-digit',
    second: '2-digit',
    hourCycle: 'h23',
    timeZoneName: 'short',
    timeZone,
  }).formatToParts(when);
  const part = (type: Intl.DateTimeFormatPartTypes): string => parts.find((p) => p.type === type)?.value ?? '';
  return `${part('year')}-${part('month')}-${part('day')} ${part('hour')}:${part('minute')}:${part('second')} ${part('timeZoneName')}`;
}
