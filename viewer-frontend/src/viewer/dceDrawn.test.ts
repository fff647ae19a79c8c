import { describe, expect, it } from 'vitest';
import { pixelsInside, roiOfAnnotation } from './dceDrawn';

// An image whose world x, y are its cornerstone image coordinates (1 mm pixels, corner at the origin).
const toImage = (p: readonly number[]): [number, number] => [p[0], p[1]];

describe('roiOfAnnotation', () => {
  it('turns a rectangle into a polygon of pixel-centred corners, in drawing order', () => {
    const roi = roiOfAnnotation({ metadata: { toolName: 'RectangleROI' }, data: { handles: { points: [[10, 20, 0], [14, 20, 0], [10, 23, 0], [14, 23, 0]] } } }, toImage);
    expect(roi).toEqual({ points: [[9.5, 19.5], [13.5, 19.5], [13.5, 22.5], [9.5, 22.5]] });
    expect(pixelsInside(roi!.points!, 40, 40)).toBe(12); // columns 10–13, rows 20–22
  });

  it('turns an ellipse into its centre and radii', () => {
    const roi = roiOfAnnotation({ metadata: { toolName: 'EllipticalROI' }, data: { handles: { points: [[12, 26, 0], [12, 20, 0], [8, 23, 0], [16, 23, 0]] } } }, toImage);
    expect(roi).toEqual({ x: 11.5, y: 22.5, rx: 4, ry: 3 });
  });

  it('keeps a freehand contour as its polyline and refuses other tools', () => {
    const polyline = [[1, 1, 0], [5, 1, 0], [5, 5, 0], [1, 5, 0]];
    expect(roiOfAnnotation({ metadata: { toolName: 'PlanarFreehandROI' }, data: { contour: { polyline } } }, toImage)?.points).toHaveLength(4);
    expect(roiOfAnnotation({ metadata: { toolName: 'Length' }, data: { handles: { points: polyline } } }, toImage)).toBeUndefined();
    expect(roiOfAnnotation({ metadata: { toolName: 'PlanarFreehandROI' }, data: { contour: { polyline: polyline.slice(0, 2) } } }, toImage)).toBeUndefined();
  });
});
