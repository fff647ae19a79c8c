import { describe, expect, it } from 'vitest';
import { affineFromCorners, colourise, lutGradient, nearestSlice, paletteGrey, perfusionColormap, perfusionLut, type Plane, type RGB } from './fusion';

describe('perfusionLut', () => {
  it("is matplotlib's jet (the PDF's and the colour series' palette) with black at the bottom", () => {
    const lut = perfusionLut();
    expect(lut).toHaveLength(256);
    // matplotlib: colormaps['jet'](x) for x = 0.1, 0.25, 0.5, 0.75, 0.9, 1 (entry int(256 x), clipped).
    const reference: [number, RGB][] = [[25, [0, 0, 241]], [64, [0, 128, 255]], [128, [125, 255, 122]], [192, [255, 148, 0]], [230, [241, 8, 0]], [255, [128, 0, 0]]];
    for (const [i, rgb] of reference) lut[i].forEach((v, k) => expect(Math.abs(v - rgb[k]), `entry ${i}`).toBeLessThanOrEqual(1));
    expect(lut[0]).toEqual([0, 0, 0]); // background and no flow: black, not blue
    expect(lutGradient(lut, 3)).toMatch(/^linear-gradient\(to top, rgb\(0,0,0\) 0%, .* 100%\)$/);
  });

  it('is registered with cornerstone as the same 256 colours', () => {
    const map = perfusionColormap();
    expect(map.RGBPoints).toHaveLength(256 * 4);
    expect(map.RGBPoints.slice(0, 4)).toEqual([0, 0, 0, 0]);
    expect(map.RGBPoints.slice(-4)).toEqual([1, 128 / 255, 0, 0]);
  });
});

describe('colourise', () => {
  it('rescales, maps and keeps low values transparent', () => {
    const lut = perfusionLut();
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

describe('paletteGrey', () => {
  it('maps grey levels through the perfusion palette (black stays black, white is the top colour)', () => {
    const lut = perfusionLut();
    const px = new Uint8ClampedArray([0, 0, 0, 255, 255, 255, 255, 255, 128, 128, 128, 255]);
    paletteGrey(px, lut);
    expect([...px.slice(0, 3)]).toEqual([0, 0, 0]);
    expect([...px.slice(4, 7)]).toEqual(lut[255]);
    expect([...px.slice(8, 11)]).toEqual(lut[128]);
  });
});
