// cornerstone adapted to what useMeasurements drives (annotation state, image ↔ world coordinates,
// image planes), the annotation events that keep the measurement list current, and jumping to an image.
import type { ViewerRuntime } from './runtime';
import type { ListEntry, Measurements, MeasureRuntime } from './composables/useMeasurements';
import type { AnnotationLike } from './measurements';
import type { Viewports } from './composables/useViewports';

type Point3 = [number, number, number];

export function measureRuntime(rt: ViewerRuntime): MeasureRuntime {
  const state = rt.tools.annotation.state;
  return {
    annotations: {
      all: () => state.getAllAnnotations() as unknown as AnnotationLike[],
      add: (a, group) => {
        state.addAnnotation(a as never, group);
      },
      remove: (uid) => state.removeAnnotation(uid),
    },
    worldToImage: (imageId, p) => rt.core.utilities.worldToImageCoords(imageId, p) as [number, number],
    imageToWorld: (imageId, p) => rt.core.utilities.imageToWorldCoords(imageId, p) as Point3,
    plane: (imageId) => {
      const plane = rt.core.metaData.get('imagePlaneModule', imageId) as { frameOfReferenceUID?: string; rowCosines?: number[]; columnCosines?: number[] } | undefined;
      const r = plane?.rowCosines;
      const c = plane?.columnCosines;
      if (!plane || !r || !c) return undefined;
      const normal: Point3 = [r[1] * c[2] - r[2] * c[1], r[2] * c[0] - r[0] * c[2], r[0] * c[1] - r[1] * c[0]];
      return { frameOfReference: plane.frameOfReferenceUID ?? '', normal };
    },
    render: () => rt.cs.engine().render(),
  };
}

/** Keep the list current: drawn, changed, removed annotations mark it unsaved; new statistics only redraw it. */
export function watchAnnotations(rt: ViewerRuntime, measures: Measurements): () => void {
  const E = rt.tools.Enums.Events;
  const onChange = (evt: Event) => {
    const type = (evt as CustomEvent<{ changeType?: string }>).detail?.changeType;
    if (type === rt.tools.Enums.ChangeTypes.StatsUpdated) measures.refresh();
    else measures.changed();
  };
  const names = [E.ANNOTATION_COMPLETED, E.ANNOTATION_MODIFIED, E.ANNOTATION_REMOVED];
  for (const n of names) rt.core.eventTarget.addEventListener(n, onChange);
  return () => {
    for (const n of names) rt.core.eventTarget.removeEventListener(n, onChange);
  };
}

/** Show the entry's image: in the pane that shows its series, else loaded into the active pane. */
export async function jumpTo(viewports: Viewports, entry: ListEntry): Promise<void> {
  let i = viewports.slots.findIndex((s) => s.seriesUid === entry.seriesUid);
  if (i < 0) {
    i = viewports.active.value;
    await viewports.loadSeries(i, entry.seriesUid);
  }
  viewports.setActive(i);
  const k = viewports.stacks.get(i)?.imageIds.indexOf(entry.imageId) ?? -1;
  const vp = viewports.viewport(i);
  if (k >= 0 && vp) await vp.setImageIdIndex(k);
}
