import { describe, expect, it } from 'vitest';
import { affineFromCorners, colourise, jetLut, lutGradient, nearestSlice, type Plane } from './fusion';

describe('jetLut', () => {
  it('runs from blue to red', () => {
    const lut = jetLut();
    expect(lut).toHaveLength(256);
    expect(lut[0][2]).toBeGreaterThan(100);
    expect(lut[0][0]).toBe(0);
    expect(lut[255][0]).toBeGreaterThan(100);
    expect(lut[255][2]).toBe(0);
    expect(lutGradient(lut, 3)).toMatch(/^linear-gradient\(to top, rgb\(0,0,\d+\) 0%, .* 100%\)$/);
  });
});

describe('colourise', () => {
  it('rescales, maps and keeps low values transparent', () => {
    const lut = jetLut();
    const out = new Uint8ClampedArray(12);
    colourise([0, 50, 100], 1, 0, 0, 100, lut, out);
    expect(out[3]).toBe(0);
    expect(out[7]).toBe(255);
    expect([out[8], out[9], out[10]]).toEqual(lut[255]);
    const scaled = new Uint8ClampedArray(4);
    colourise([10], 2, 5, 0, 100, lut, scaled); // 25 ml/100g/min
    expect([scaled[0], scaled[1], scaled[2]]).toEqual(lut[Math.round(0.25 * 255)]);
  });
});

describe('nearestSlice', () => {
  const axial = (z: number): Plane => ({ position: [0, 0, z], rowCosines: [1, 0, 0], columnCosines: [0, 1, 0] });
  it('matches by distance along the normal within tolerance', () => {
    const slices = [axial(0), axial(5), axial(10)];
    expect(nearestSlice(axial(6), slices, 3)).toBe(1);
    expect(nearestSlice(axial(20), slices, 3)).toBe(-1);
  });
  it('ignores planes that are not parallel', () => {
    const sagittal: Plane = { position: [0, 0, 5], rowCosines: [0, 1, 0], columnCosines: [0, 0, -1] };
    expect(nearestSlice(axial(5), [sagittal], 3)).toBe(-1);
  });
});

describe('affineFromCorners', () => {
  it('maps pixel corners to the given canvas points', () => {
    const [a, b, c, d, e, f] = affineFromCorners([10, 20], [12, 20], [10, 23]);
    const map = (x: number, y: number) => [a * x + c * y + e, b * x + d * y + f];
    expect(map(0, 0)).toEqual([10, 20]);
    expect(map(4, 2)).toEqual([18, 26]);
  });
});
