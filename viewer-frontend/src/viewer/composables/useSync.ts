// Linking viewports: scroll, W/L and zoom/pan synchronizers over every viewport of the layout, and reference lines
// from the active viewport onto the others.
import { ref, watch, type Ref } from 'vue';

interface ViewportRef {
  renderingEngineId: string;
  viewportId: string;
}

/** What useSync needs of cornerstone tools (the page adapts the real modules to it). */
export interface SyncDriver {
  engineId: string;
  createSliceSync(id: string): { add(viewport: ViewportRef): void };
  createVoiSync(id: string): { add(viewport: ViewportRef): void };
  createZoomPanSync(id: string): { add(viewport: ViewportRef): void };
  destroySync(id: string): void;
  referenceLines: {
    /** Enable them with this viewport as the source; `undefined` disables them. */
    show(sourceViewportId: string | undefined): void;
    /** Recompute the source plane (a stack's new image is not always a camera change). */
    refresh(): void;
  };
  render(): void;
}

export const SLICE_SYNC = 'cirrus-slice';
export const VOI_SYNC = 'cirrus-voi';
export const ZOOM_PAN_SYNC = 'cirrus-zoom-pan';
const SYNCS = [SLICE_SYNC, VOI_SYNC, ZOOM_PAN_SYNC];

export function useSync(options: { viewportIds: () => string[]; active: Ref<number>; driver: () => SyncDriver | undefined }) {
  const syncScroll = ref(false);
  const syncWL = ref(false);
  const refLines = ref(false);
  const syncZoomPan = ref(false);

  function apply(): void {
    const driver = options.driver();
    if (!driver) return;
    for (const id of SYNCS) driver.destroySync(id);
    const ids = options.viewportIds();
    const refs = ids.map((viewportId) => ({ renderingEngineId: driver.engineId, viewportId }));
    const linked = refs.length > 1;
    if (syncScroll.value && linked) {
      const s = driver.createSliceSync(SLICE_SYNC);
      refs.forEach((v) => s.add(v));
    }
    if (syncWL.value && linked) {
      const s = driver.createVoiSync(VOI_SYNC);
      refs.forEach((v) => s.add(v));
    }
    if (syncZoomPan.value && linked) {
      const s = driver.createZoomPanSync(ZOOM_PAN_SYNC);
      refs.forEach((v) => s.add(v));
    }
    driver.referenceLines.show(refLines.value && linked ? ids[options.active.value] : undefined);
    driver.render();
  }

  /** After viewport `i` drew a new image: the others' reference lines follow the active one. */
  function onRendered(i: number): void {
    if (refLines.value && i === options.active.value && options.viewportIds().length > 1) options.driver()?.referenceLines.refresh();
  }

  function destroy(): void {
    const driver = options.driver();
    for (const id of SYNCS) driver?.destroySync(id);
  }

  watch([syncScroll, syncWL, refLines, syncZoomPan], apply);
  watch(options.active, () => {
    if (refLines.value) apply();
  });

  return { syncScroll, syncWL, refLines, syncZoomPan, apply, onRendered, destroy };
}
