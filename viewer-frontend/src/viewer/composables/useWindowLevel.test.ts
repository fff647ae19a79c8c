import { describe, expect, it } from 'vitest';
import type { WlViewport } from './useWindowLevel';
import { PRESET_NAMES, useWindowLevel, wlText } from './useWindowLevel';
import { FakeViewport, element } from './testFakes';

function setup() {
  const vps = [new FakeViewport(element()), new FakeViewport(element())];
  let active = 0;
  const wl = useWindowLevel((i) => vps[i ?? active] as unknown as WlViewport);
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
    expect(PRESET_NAMES[0]).toBe('brain');
  });

  it('toggles invert and the colour map', () => {
    const { wl, vps } = setup();
    wl.invert();
    expect(vps[0].properties.invert).toBe(true);
    wl.invert();
    expect(vps[0].properties.invert).toBe(false);
    wl.toggleColour();
    expect(vps[0].properties.colormap).toEqual({ name: 'jet' });
    wl.toggleColour();
    expect(vps[0].properties.colormap).toEqual({ name: 'Grayscale' });
  });

  it('writes the readout of each viewport from its VOI range', () => {
    const { wl, vps } = setup();
    vps[1].properties.voiRange = { lower: -160, upper: 240 };
    wl.update(1);
    wl.update(0); // no VOI yet: no readout
    expect(wl.readouts).toEqual({ 1: 'W 400 / L 40' });
    expect(wlText(-0.4, 1.6)).toBe('W 2 / L 1');
  });
});
