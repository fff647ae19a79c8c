// The CBF overlay: a chosen parametric series drawn in colour over the other viewports' anatomy
// (ParametricOverlay, one canvas per viewport), with its opacity and the top of the colour scale.
import { computed, ref, watch, type Ref } from 'vue';
import type { FrameRef } from '../../api/client';
import type { DicomJson } from '../../api/dicomJson';
import { overlayOrder } from '../derived';

/** The parts of ParametricOverlay this composable drives. */
export interface OverlayCanvas {
  opacity: number;
  max: number;
  setImages(imageIds: string[]): void;
  clear(): void;
  draw(): unknown;
  destroy(): void;
}

export interface OverlayOptions {
  series: Ref<DicomJson[]>;
  /** The series each viewport shows, by slot. */
  shownSeries: () => string[];
  frames: (seriesUid: string) => Promise<FrameRef[]>;
  registerSeries: (seriesUid: string, frames: FrameRef[]) => string[];
}

export function useOverlay(options: OverlayOptions) {
  const overlaySeries = ref('');
  const opacity = ref(0.5);
  const max = ref(100);
  const canvases = new Map<number, OverlayCanvas>();
  /** Series that hold CBF come first in the choice list (recognised by ImageType, not by name). */
  const choices = computed(() => overlayOrder(options.series.value));

  function attach(i: number, canvas: OverlayCanvas): void {
    canvases.get(i)?.destroy();
    canvases.set(i, canvas);
  }

  function detach(i: number): void {
    canvases.get(i)?.destroy();
    canvases.delete(i);
  }

  /** Whether viewport `i` shows the overlay (and so its colour bar): not over the overlay series itself. */
  function shownOn(seriesUid: string | undefined): boolean {
    return !!overlaySeries.value && overlaySeries.value !== seriesUid;
  }

  async function apply(): Promise<void> {
    const shown = options.shownSeries();
    for (const [i, canvas] of canvases) {
      canvas.opacity = opacity.value;
      canvas.max = max.value;
      if (!shownOn(shown[i])) {
        canvas.clear();
        continue;
      }
      const uid = overlaySeries.value;
      const ordered = await options.frames(uid);
      if (overlaySeries.value === uid) canvas.setImages(options.registerSeries(uid, ordered));
    }
  }

  function draw(i: number): void {
    canvases.get(i)?.draw();
  }

  function drawAll(): void {
    for (const canvas of canvases.values()) canvas.draw();
  }

  watch([overlaySeries, max], () => apply());
  watch(opacity, (v) => {
    for (const canvas of canvases.values()) {
      canvas.opacity = v;
      canvas.draw();
    }
  });

  return { overlaySeries, opacity, max, choices, attach, detach, shownOn, apply, draw, drawAll };
}
