// Window/level of the active viewport: presets, invert, the colour map, and the W/L readout per viewport.
import { reactive } from 'vue';
import type { Types } from '@cornerstonejs/core';
import { WL_PRESETS, rangeToWindow, windowToRange, type PresetName } from '../presets';

export type WlViewport = Pick<Types.IStackViewport, 'getProperties' | 'setProperties' | 'resetProperties' | 'render'>;

export const JET = { name: 'jet' };
const GREY = { name: 'Grayscale' };
export const PRESET_NAMES = Object.keys(WL_PRESETS) as PresetName[];

/** "W 80 / L 40" for a VOI range. */
export function wlText(lower: number, upper: number): string {
  const { center, width } = rangeToWindow(lower, upper);
  return `W ${Math.round(width)} / L ${Math.round(center)}`;
}

export function useWindowLevel(viewport: (i?: number) => WlViewport | undefined) {
  /** The readout shown in each viewport's corner, by slot. */
  const readouts = reactive<Record<number, string>>({});

  function update(i: number): void {
    const range = viewport(i)?.getProperties().voiRange;
    if (range) readouts[i] = wlText(range.lower, range.upper);
  }

  function withActive(fn: (vp: WlViewport) => void): void {
    const vp = viewport();
    if (!vp) return;
    fn(vp);
    vp.render();
  }

  function applyPreset(name: PresetName | 'default'): void {
    withActive((vp) => {
      if (name === 'default') vp.resetProperties();
      else vp.setProperties({ voiRange: windowToRange(WL_PRESETS[name].center, WL_PRESETS[name].width) });
    });
  }

  const invert = () => withActive((vp) => vp.setProperties({ invert: !vp.getProperties().invert }));
  const toggleColour = () =>
    withActive((vp) => vp.setProperties({ colormap: vp.getProperties().colormap?.name === JET.name ? GREY : JET }));

  return { readouts, update, applyPreset, invert, toggleColour };
}
