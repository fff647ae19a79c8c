// The CBF overlay: a chosen parametric series drawn in colour over the other viewports' anatomy
// (ParametricOverlay, one canvas per viewport), with its opacity and the top of the colour scale.
import { ref, shallowRef, watch, type Ref } from 'vue';
import type { FrameRef } from '../../api/client';
import { str, type DicomJson } from '../../api/dicomJson';
import type { MessageKey } from '../../i18n';
import { mayBeMap, overlayChoices, overlayQuantity, type Quantity } from '../derived';

/** The parts of ParametricOverlay this composable drives. */
export interface OverlayCanvas {
  opacity: number;
  min: number;
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
  /** One instance of a series (QIDO instance level: SOP class, ImageType), to tell maps from the rest. */
  firstInstance: (seriesUid: string) => Promise<DicomJson | undefined>;
  /** Series whose images carry no per-slice geometry (a Siemens mosaic): never overlaid. */
  isMosaic?: (seriesUid: string) => boolean;
}

/** The top of the colour scale and the unit of each quantity (CBF: the colour series' 0–100). */
export const OVERLAY_SCALE: Record<Quantity, { min: number; max: number; unit: MessageKey }> = {
  CBF: { min: 0, max: 100, unit: 'viewer.unit.cbf' },
  ATT: { min: 0.5, max: 2.5, unit: 'viewer.unit.att' },
  // DCE: the top of the Ktrans colour series (0–0.5 /min); kep, ve and vp in their usual tumour ranges.
  KTRANS: { min: 0, max: 0.5, unit: 'viewer.unit.perMin' },
  KEP: { min: 0, max: 2, unit: 'viewer.unit.perMin' },
  VE: { min: 0, max: 1, unit: 'viewer.unit.ratio' },
  VP: { min: 0, max: 0.2, unit: 'viewer.unit.ratio' },
};

export function useOverlay(options: OverlayOptions) {
  const overlaySeries = ref('');
  const opacity = ref(0.5);
  const max = ref(100);
  const canvases = new Map<number, OverlayCanvas>();
  /** The quantity of each series that is a map (undefined: not a map), by series UID. */
  const quantities = shallowRef(new Map<string, Quantity | undefined>());
  /** Only real maps (Parametric Maps, greyscale CBF/ATT images), CBF first — never a PDF or a raw series. */
  const choices = shallowRef<DicomJson[]>([]);
  const quantity = ref<Quantity>('CBF');

  async function findMaps(): Promise<void> {
    const found = new Map<string, Quantity | undefined>();
    await Promise.all(
      options.series.value.filter(mayBeMap).map(async (s) => {
        const uid = str(s, 'SeriesInstanceUID');
        found.set(uid, overlayQuantity(await options.firstInstance(uid).catch(() => undefined)));
      }),
    );
    quantities.value = found;
    choices.value = overlayChoices(options.series.value, found);
    setQuantity();
  }

  function setQuantity(): void {
    const q = quantities.value.get(overlaySeries.value) ?? 'CBF';
    quantity.value = q;
    max.value = OVERLAY_SCALE[q].max;
  }

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
    return !!overlaySeries.value && overlaySeries.value !== seriesUid && !(seriesUid && options.isMosaic?.(seriesUid));
  }

  /** The overlay is chosen but cannot be placed on this series (a mosaic): the pane says so. */
  function refusedOn(seriesUid: string | undefined): boolean {
    return !!overlaySeries.value && overlaySeries.value !== seriesUid && !!seriesUid && !!options.isMosaic?.(seriesUid);
  }

  async function apply(): Promise<void> {
    const shown = options.shownSeries();
    for (const [i, canvas] of canvases) {
      canvas.opacity = opacity.value;
      canvas.max = max.value;
      canvas.min = OVERLAY_SCALE[quantity.value].min;
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

  watch(overlaySeries, setQuantity);
  watch([overlaySeries, max], () => apply());
  watch(options.series, findMaps, { immediate: true });
  watch(opacity, (v) => {
    for (const canvas of canvases.values()) {
      canvas.opacity = v;
      canvas.draw();
    }
  });

  return { overlaySeries, opacity, max, quantity, choices, attach, detach, shownOn, refusedOn, apply, draw, drawAll };
}
