// Pure helpers for the CBF colour overlay: a colour map, slice matching and the image→canvas affine.

export type RGB = [number, number, number];

/** The classic "jet" map (blue → cyan → yellow → red), 256 entries. */
export function jetLut(): RGB[] {
  const lut: RGB[] = [];
  for (let i = 0; i < 256; i += 1) {
    const x = i / 255;
    const r = Math.min(1, Math.max(0, 1.5 - Math.abs(4 * x - 3)));
    const g = Math.min(1, Math.max(0, 1.5 - Math.abs(4 * x - 2)));
    const b = Math.min(1, Math.max(0, 1.5 - Math.abs(4 * x - 1)));
    lut.push([Math.round(r * 255), Math.round(g * 255), Math.round(b * 255)]);
  }
  return lut;
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
