// Window/level of the active viewport: presets for what it shows (CT windows, map ranges, MR from the
// histogram), invert, the colour map, and the W/L readout per viewport.
import { reactive } from 'vue';
import type { Types } from '@cornerstonejs/core';
import { histogramWindow, presetsFor, rangeToWindow, type ImageKind, type Preset } from '../presets';
import { PERFUSION_COLORMAP } from '../fusion';

export type WlViewport = Pick<Types.IStackViewport, 'getProperties' | 'setProperties' | 'resetProperties' | 'render'> & {
  getCornerstoneImage?: () => { getPixelData(): ArrayLike<number>; slope?: number; intercept?: number; preScale?: { scaled?: boolean } } | undefined;
};

export const COLOUR = { name: PERFUSION_COLORMAP };
const GREY = { name: 'Grayscale' };

/** "W 80 / L 40" for a VOI range; small ranges (ATT in s) keep their decimals. */
export function wlText(lower: number, upper: number): string {
  const { center, width } = rangeToWindow(lower, upper);
  const digits = width < 10 ? 2 : 0;
  return `W ${width.toFixed(digits)} / L ${center.toFixed(digits)}`;
}

/** The modality values of a viewport's image (rescaled unless the loader already did). */
function imageValues(vp: WlViewport): ArrayLike<number> | undefined {
  const image = vp.getCornerstoneImage?.();
  if (!image) return undefined;
  const pixels = image.getPixelData();
  if (image.preScale?.scaled || ((image.slope ?? 1) === 1 && (image.intercept ?? 0) === 0)) return pixels;
  const out = new Float32Array(pixels.length);
  for (let i = 0; i < pixels.length; i += 1) out[i] = pixels[i] * (image.slope ?? 1) + (image.intercept ?? 0);
  return out;
}

export function useWindowLevel(viewport: (i?: number) => WlViewport | undefined, kind: (i?: number) => ImageKind = () => 'other') {
  /** The readout shown in each viewport's corner, by slot. */
  const readouts = reactive<Record<number, string>>({});
  /** The VOI range each viewport shows (the colour bar's scale), by slot. */
  const ranges = reactive<Record<number, { lower: number; upper: number }>>({});

  function update(i: number): void {
    const range = viewport(i)?.getProperties().voiRange;
    if (range) {
      readouts[i] = wlText(range.lower, range.upper);
      ranges[i] = { lower: range.lower, upper: range.upper };
    }
  }

  function withActive(fn: (vp: WlViewport) => void): void {
    const vp = viewport();
    if (!vp) return;
    fn(vp);
    vp.render();
  }

  /** The presets of the active viewport's image. */
  const presets = (): Preset[] => presetsFor(kind());

  function applyPreset(id: string): void {
    withActive((vp) => {
      if (id === 'default') {
        vp.resetProperties();
        return;
      }
      const preset = presets().find((p) => p.id === id);
      if (!preset) return;
      if (preset.range !== 'auto') {
        vp.setProperties({ voiRange: { ...preset.range } });
        return;
      }
      const values = imageValues(vp);
      if (values) vp.setProperties({ voiRange: histogramWindow(values) });
    });
  }

  const invert = () => withActive((vp) => vp.setProperties({ invert: !vp.getProperties().invert }));
  const toggleColour = () =>
    withActive((vp) => vp.setProperties({ colormap: vp.getProperties().colormap?.name === COLOUR.name ? GREY : COLOUR }));

  return { readouts, ranges, update, presets, applyPreset, invert, toggleColour };
}
