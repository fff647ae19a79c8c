// Loading cornerstone for the desktop viewer, and adapting its modules to the narrow interfaces the
// viewer's composables drive (so they can be unit-tested without a browser).
import type { ViewportRuntime } from './composables/useViewports';
import type { SyncDriver } from './composables/useSync';

export interface ViewerRuntime {
  cs: typeof import('./cornerstone');
  core: typeof import('@cornerstonejs/core');
  tools: typeof import('@cornerstonejs/tools');
  overlay: typeof import('./overlay');
}

/** Code, init and (in the page) metadata travel in parallel: start this as early as possible. */
export async function loadRuntime(): Promise<ViewerRuntime> {
  const [cs, core, tools, overlay] = await Promise.all([
    import('./cornerstone').then(async (m) => {
      await m.initCornerstone();
      return m;
    }),
    import('@cornerstonejs/core'),
    import('@cornerstonejs/tools'),
    import('./overlay'),
  ]);
  return { cs, core, tools, overlay };
}

export function viewportRuntime(rt: ViewerRuntime, studyUid: string): ViewportRuntime {
  const { Events, ViewportType } = rt.core.Enums;
  return {
    engine: rt.cs.engine() as unknown as ViewportRuntime['engine'],
    group: rt.cs.toolGroup(),
    stackType: ViewportType.STACK,
    events: { newImage: Events.STACK_NEW_IMAGE, rendered: Events.IMAGE_RENDERED, voiModified: Events.VOI_MODIFIED },
    registerSeries: (seriesUid, frames) => rt.cs.registerSeries(studyUid, seriesUid, frames),
    prefetch: rt.cs.prefetchStack,
  };
}

export function syncDriver(rt: ViewerRuntime): SyncDriver {
  const { synchronizers, SynchronizerManager } = rt.tools;
  const group = rt.cs.toolGroup();
  const lines = rt.cs.REFERENCE_LINES;
  return {
    engineId: rt.cs.ENGINE_ID,
    createSliceSync: (id) => synchronizers.createImageSliceSynchronizer(id),
    createVoiSync: (id) => synchronizers.createVOISynchronizer(id, { syncInvertState: false, syncColormap: false }),
    createZoomPanSync: (id) => synchronizers.createZoomPanSynchronizer(id),
    destroySync: (id) => SynchronizerManager.destroySynchronizer(id),
    referenceLines: {
      show(source) {
        if (source) {
          group.setToolConfiguration(lines, { sourceViewportId: source });
          group.setToolEnabled(lines);
        } else {
          group.setToolDisabled(lines);
        }
      },
      refresh() {
        const tool = group.getToolInstance(lines) as { _init?: () => void } | undefined;
        tool?._init?.();
      },
    },
    render: () => rt.cs.engine().render(),
  };
}
