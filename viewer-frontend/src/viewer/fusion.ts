// Pure helpers for the CBF colour overlay: a colour map, slice matching and the image→canvas affine.

export type RGB = [number, number, number];

/** matplotlib's "jet" (its segment data), the palette the report PDF and the colour series use. */
const JET_SEGMENTS: Record<'r' | 'g' | 'b', [number, number][]> = {
  r: [[0, 0], [0.35, 0], [0.66, 1], [0.89, 1], [1, 0.5]],
  g: [[0, 0], [0.125, 0], [0.375, 1], [0.64, 1], [0.91, 0], [1, 0]],
  b: [[0, 0.5], [0.11, 1], [0.34, 1], [0.65, 0], [1, 0]],
};

function segment(points: [number, number][], x: number): number {
  for (let k = 1; k < points.length; k += 1) {
    const [x1, y1] = points[k];
    const [x0, y0] = points[k - 1];
    if (x <= x1) return y0 + ((y1 - y0) * (x - x0)) / (x1 - x0 || 1);
  }
  return points[points.length - 1][1];
}

/**
 * The perfusion palette, 256 entries: matplotlib's jet, except that the lowest entry (values at or
 * below the bottom of the window: background, no flow) is black rather than dark blue.
 * quant/derived.py paints the colour series with the same rule.
 */
export function perfusionLut(): RGB[] {
  const lut: RGB[] = [];
  for (let i = 0; i < 256; i += 1) {
    const x = i / 255;
    lut.push([Math.round(segment(JET_SEGMENTS.r, x) * 255), Math.round(segment(JET_SEGMENTS.g, x) * 255), Math.round(segment(JET_SEGMENTS.b, x) * 255)]);
  }
  lut[0] = [0, 0, 0];
  return lut;
}

/** The name the perfusion palette is registered under with cornerstone. */
export const PERFUSION_COLORMAP = 'cirrus-perfusion';

/** The palette as a cornerstone/vtk colour map (RGBPoints: x, r, g, b in 0..1). */
export function perfusionColormap(): { Name: string; ColorSpace: string; RGBPoints: number[] } {
  const lut = perfusionLut();
  const points: number[] = [];
  lut.forEach(([r, g, b], i) => points.push(i / 255, r / 255, g / 255, b / 255));
  return { Name: PERFUSION_COLORMAP, ColorSpace: 'RGB', RGBPoints: points };
}

/** A CSS gradient for the colour bar, from the same map the overlay uses. */
export function lutGradient(lut: RGB[], stops = 9): string {
  const parts: string[] = [];
  for (let i = 0; i < stops; i += 1) {
    const [r, g, b] = lut[Math.round((i / (stops - 1)) * (lut.length - 1))];
    parts.push(`rgb(${r},${g},${b}) ${Math.round((i / (stops - 1)) * 100)}%`);
  }
  return `linear-gradient(to top, ${parts.join(', ')})`;
}

/**
 * Paint values into RGBA with the map; values at or below `min` stay transparent so the anatomy
 * shows through where there is no perfusion (background, outside the brain mask).
 */
export function colourise(values: ArrayLike<number>, slope: number, intercept: number, min: number, max: number, lut: RGB[], out: Uint8ClampedArray): void {
  const span = max - min || 1;
  for (let i = 0; i < values.length; i += 1) {
    const v = values[i] * slope + intercept;
    const o = i * 4;
    if (!(v > min)) {
      out[o + 3] = 0;
      continue;
    }
    const idx = Math.min(255, Math.max(0, Math.round(((v - min) / span) * 255)));
    const [r, g, b] = lut[idx];
    out[o] = r;
    out[o + 1] = g;
    out[o + 2] = b;
    out[o + 3] = 255;
  }
}

export type Vec3 = [number, number, number];
export const dot = (a: Vec3, b: Vec3): number => a[0] * b[0] + a[1] * b[1] + a[2] * b[2];
export const cross = (a: Vec3, b: Vec3): Vec3 => [a[1] * b[2] - a[2] * b[1], a[2] * b[0] - a[0] * b[2], a[0] * b[1] - a[1] * b[0]];

export interface Plane {
  position: Vec3;
  rowCosines: Vec3;
  columnCosines: Vec3;
}

/** Index of the overlay slice nearest the displayed plane, or -1 when none is within `tolerance` mm. */
export function nearestSlice(target: Plane, candidates: Plane[], tolerance: number): number {
  const normal = cross(target.rowCosines, target.columnCosines);
  const d0 = dot(normal, target.position);
  let best = -1;
  let bestDist = Infinity;
  candidates.forEach((p, i) => {
    const n = cross(p.rowCosines, p.columnCosines);
    // Only planes parallel to the displayed one can be overlaid as a 2-D image.
    if (Math.abs(dot(n, normal)) < 0.99) return;
    const dist = Math.abs(dot(normal, p.position) - d0);
    if (dist < bestDist) {
      bestDist = dist;
      best = i;
    }
  });
  return bestDist <= tolerance ? best : -1;
}

/**
 * The 2-D affine (canvas ← overlay pixel) from where three image corners land on the canvas:
 * pixel (0,0) → p0, (1,0) → px, (0,1) → py. Returned as [a, b, c, d, e, f] for CanvasRenderingContext2D.setTransform.
 */
export function affineFromCorners(
  p0: [number, number],
  px: [number, number],
  py: [number, number],
): [number, number, number, number, number, number] {
  return [px[0] - p0[0], px[1] - p0[1], py[0] - p0[0], py[1] - p0[1], p0[0], p0[1]];
}

/**
 * Recolour a rendered greyscale image (RGBA, grey 0–255 across the window) in place with the palette:
 * the phone viewer gets server-rendered JPEGs of a CBF/ATT map and shows them in the map's colours.
 */
export function paletteGrey(rgba: Uint8ClampedArray, lut: RGB[]): void {
  for (let o = 0; o < rgba.length; o += 4) {
    const [r, g, b] = lut[Math.min(255, rgba[o])];
    rgba[o] = r;
    rgba[o + 1] = g;
    rgba[o + 2] = b;
    rgba[o + 3] = 255;
  }
}
