// Pure helpers of the DCE time–intensity curve panel: SVG polylines of the ROI's curve and the AIF on
// a shared time axis, each scaled to its own maximum (the AIF's plasma peak is ~10× the tissue's).

export interface CurveLine {
  points: string;
  /** The largest value of the line (the top of its axis). */
  max: number;
}

export interface CurvePlot {
  tissue: CurveLine;
  aif: CurveLine;
  /** The last time (s) at the right edge. */
  duration: number;
}

/** "x,y x,y ..." of `values` at `times` in a `width` × `height` box (y down), the line's top at `top`. */
export function polyline(times: readonly number[], values: readonly number[], width: number, height: number, top: number): string {
  const n = Math.min(times.length, values.length);
  if (n === 0) return '';
  const t0 = times[0];
  const span = times[n - 1] - t0 || 1;
  const scale = top > 0 ? top : 1;
  const out: string[] = [];
  for (let i = 0; i < n; i += 1) {
    const x = ((times[i] - t0) / span) * width;
    const v = Number.isFinite(values[i]) ? values[i] : 0;
    const y = height - (Math.max(v, 0) / scale) * height;
    out.push(`${x.toFixed(1)},${y.toFixed(1)}`);
  }
  return out.join(' ');
}

const peak = (values: readonly number[]): number => values.reduce((m, v) => (Number.isFinite(v) && v > m ? v : m), 0);

/** The panel's two lines: the tissue concentration (or enhancement) and the plasma AIF. */
export function curvePlot(times: readonly number[], tissue: readonly number[], aif: readonly number[], width: number, height: number): CurvePlot {
  const tMax = peak(tissue);
  const aMax = peak(aif);
  return {
    tissue: { points: polyline(times, tissue, width, height, tMax), max: tMax },
    aif: { points: aif.length ? polyline(times, aif, width, height, aMax) : '', max: aMax },
    duration: times.length ? times[times.length - 1] - times[0] : 0,
  };
}

const MAP_LABELS: Record<string, [string, string]> = { ktrans: ['Ktrans', '/min'], ve: ['ve', ''], kep: ['kep', '/min'], vp: ['vp', ''] };

/** "Ktrans 0.200 /min · ve 0.400 · ..." from the ROI's map medians (maps the model does not give are left out). */
export function mapSummary(maps: Record<string, { median: number | null } | undefined>): string {
  return Object.entries(MAP_LABELS)
    .filter(([key]) => maps[key]?.median != null)
    .map(([key, [label, unit]]) => `${label} ${(maps[key]?.median ?? 0).toFixed(3)}${unit ? ` ${unit}` : ''}`)
    .join(' · ');
}

const CURVE_LABELS: Record<string, [string, string, number]> = {
  ttp: ['TTP', 's', 0],
  max_enhancement: ['max enh.', '%', 0],
  initial_slope: ['initial slope', '%/min', 0],
  max_slope: ['max slope', '%/min', 0],
  washout: ['wash-out', '%', 1],
  auc: ['AUC', 'mM·s', 2],
};

/** "TTP 24 s · max enh. 85 % · ..." from the ROI's semi-quantitative medians (those the server gave). */
export function curveParameterSummary(maps: Record<string, { median: number | null } | undefined>): string {
  return Object.entries(CURVE_LABELS)
    .filter(([key]) => maps[key]?.median != null)
    .map(([key, [label, unit, digits]]) => `${label} ${(maps[key]?.median ?? 0).toFixed(digits)} ${unit}`)
    .join(' · ');
}
