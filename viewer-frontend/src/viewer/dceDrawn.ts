// An ROI drawn with cornerstone's annotation tools on the DCE series, as the curve endpoint takes it:
// pixel coordinates with pixel (column c, row r) centred at (c, r). cornerstone's image coordinates put
// the top-left corner of the first pixel at (0, 0), so every point moves by half a pixel.
import type { DrawnRoi } from '../api/jobs';

type Vec3 = readonly [number, number, number] | readonly number[];
/** World (patient) point → cornerstone image coordinates [column, row] of the image drawn on. */
export type ToImage = (world: Vec3) => [number, number];

export const DRAWN_TOOLS = ['RectangleROI', 'EllipticalROI', 'PlanarFreehandROI'] as const;
export type DrawnTool = (typeof DRAWN_TOOLS)[number];

export interface DrawnAnnotation {
  metadata: { toolName: string; referencedImageId?: string };
  data: { handles?: { points?: Vec3[] }; contour?: { polyline?: Vec3[] } };
}

const pixel = (p: [number, number]): [number, number] => [p[0] - 0.5, p[1] - 0.5];

/** The ROI of one completed annotation (undefined: not an ROI tool, or too few points). */
export function roiOfAnnotation(a: DrawnAnnotation, toImage: ToImage): Omit<DrawnRoi, 'sop'> | undefined {
  const tool = a.metadata.toolName;
  if (tool === 'EllipticalROI') {
    const pts = a.data.handles?.points;
    if (!pts || pts.length < 4) return undefined;
    // cornerstone keeps the ellipse as its bottom, top, left and right points.
    const [bottom, top, left, right] = pts.map((p) => pixel(toImage(p)));
    const rx = Math.abs(right[0] - left[0]) / 2;
    const ry = Math.abs(bottom[1] - top[1]) / 2;
    return { x: (left[0] + right[0]) / 2, y: (top[1] + bottom[1]) / 2, rx, ry };
  }
  let world: Vec3[] | undefined;
  if (tool === 'RectangleROI') {
    const pts = a.data.handles?.points; // top-left, top-right, bottom-left, bottom-right
    world = pts && pts.length === 4 ? [pts[0], pts[1], pts[3], pts[2]] : undefined;
  } else if (tool === 'PlanarFreehandROI') {
    world = a.data.contour?.polyline;
  }
  if (!world || world.length < 3) return undefined;
  return { points: world.map((p) => pixel(toImage(p))) };
}

/** Pixels (column, row) whose centres lie inside the polygon (even–odd rule), as the server counts them. */
export function pixelsInside(points: readonly (readonly number[])[], columns: number, rows: number): number {
  let n = 0;
  for (let r = 0; r < rows; r += 1) {
    for (let c = 0; c < columns; c += 1) {
      let inside = false;
      for (let i = 0, j = points.length - 1; i < points.length; j = i, i += 1) {
        const [xi, yi] = points[i];
        const [xj, yj] = points[j];
        if (yi > r !== yj > r && c < ((xj - xi) * (r - yi)) / (yj - yi) + xi) inside = !inside;
      }
      if (inside) n += 1;
    }
  }
  return n;
}
