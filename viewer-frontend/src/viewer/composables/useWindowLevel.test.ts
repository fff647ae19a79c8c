import { describe, expect, it } from 'vitest';
import type { WlViewport } from './useWindowLevel';
import { useWindowLevel, wlText } from './useWindowLevel';
import type { ImageKind } from '../presets';
import { FakeViewport, element } from './testFakes';

function setup(kinds: ImageKind[] = ['CT', 'CT']) {
  const vps = [new FakeViewport(element()), new FakeViewport(element())];
  let active = 0;
  const wl = useWindowLevel(
    (i) => vps[i ?? active] as unknown as WlViewport,
    (i) => kinds[i ?? active],
  );
  return { wl, vps, setActive: (i: number) => (active = i) };
}

describe('useWindowLevel', () => {
  it('applies a preset as a VOI range to the active viewport only', () => {
    const { wl, vps, setActive } = setup();
    setActive(1);
    wl.applyPreset('brain');
    expect(vps[1].properties.voiRange).toEqual({ lower: 0, upper: 80 });
    expect(vps[0].properties.voiRange).toBeUndefined();
    expect(vps[1].calls.at(-1)).toEqual(['render']);
    wl.applyPreset('default');
    expect(vps[1].calls.map((c) => c[0])).toContain('resetProperties');
  });

  it('offers Hounsfield windows only for CT, map ranges for CBF and ATT, the histogram for MR', () => {
    const ids = (kind: ImageKind) => setup([kind]).wl.presets().map((p) => p.id);
    expect(ids('CT')).toEqual(['brain', 'stroke', 'lung', 'bone', 'abdomen']);
    expect(ids('CBF')).toEqual(['cbf80', 'cbf100', 'auto']);
    expect(ids('ATT')).toEqual(['att', 'auto']);
    expect(ids('MR')).toEqual(['auto']);
    const { wl, vps } = setup(['CBF']);
    wl.applyPreset('cbf80');
    expect(vps[0].properties.voiRange).toEqual({ lower: 0, upper: 80 });
    wl.applyPreset('brain'); // not a CBF preset: ignored
    expect(vps[0].properties.voiRange).toEqual({ lower: 0, upper: 80 });
    const att = setup(['ATT']);
    att.wl.applyPreset('att');
    expect(att.vps[0].properties.voiRange).toEqual({ lower: 0.5, upper: 2.5 });
  });

  it('sets an MR window from the histogram of the image shown (rescaled values)', () => {
    const { wl, vps } = setup(['MR']);
    // Air (0) around tissue 100..299 and one bright vessel at 5000, stored ×2 with slope 0.5.
    const stored = new Int16Array(1000);
    for (let i = 0; i < 600; i += 1) stored[i] = 0;
    for (let i = 600; i < 999; i += 1) stored[i] = 2 * (100 + ((i - 600) % 200));
    stored[999] = 10000;
    (vps[0] as unknown as WlViewport).getCornerstoneImage = () => ({ getPixelData: () => stored, slope: 0.5, intercept: 0 });
    wl.applyPreset('auto');
    const r = vps[0].properties.voiRange as { lower: number; upper: number };
    expect(r.lower).toBeGreaterThan(90);
    expect(r.lower).toBeLessThan(110);
    expect(r.upper).toBeGreaterThan(280);
    expect(r.upper).toBeLessThan(320); // the vessel does not set the top
  });

  it('toggles invert and the colour map', () => {
    const { wl, vps } = setup();
    wl.invert();
    expect(vps[0].properties.invert).toBe(true);
    wl.invert();
    expect(vps[0].properties.invert).toBe(false);
    wl.toggleColour();
    expect(vps[0].properties.colormap).toEqual({ name: 'cirrus-perfusion' });
    wl.toggleColour();
    expect(vps[0].properties.colormap).toEqual({ name: 'Grayscale' });
  });

  it('writes the readout and range of each viewport from its VOI range', () => {
    const { wl, vps } = setup();
    vps[1].properties.voiRange = { lower: -160, upper: 240 };
    wl.update(1);
    wl.update(0); // no VOI yet: no readout
    expect(wl.readouts).toEqual({ 1: 'W 400 / L 40' });
    expect(wl.ranges).toEqual({ 1: { lower: -160, upper: 240 } });
    expect(wlText(0.5, 2.5)).toBe('W 2.00 / L 1.50');
  });
});
