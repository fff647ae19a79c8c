// The study's measurements: the list per series (from cornerstone's annotation state), saving them as a
// TID 1500 SR through POST /api/studies/{study}/measurements, and reading the newest SR back via DICOMweb
// when the study opens (QIDO for the measurement series, WADO-RS metadata of its newest instance).
import { computed, ref, shallowRef } from 'vue';
import type { FrameRef } from '../../api/client';
import { DICOMWEB } from '../../api/client';
import { requestJson } from '../../api/http';
import { num, str, type DicomJson } from '../../api/dicomJson';
import type { components } from '../../api/schema';
import { quantityOf } from '../derived';
import {
  CS_TOOL,
  SR_SERIES,
  measurementsOfSr,
  newestReport,
  summary,
  toMeasurement,
  toolOf,
  type AnnotationLike,
  type ImageRef,
  type MeasureTool,
  type StoredMeasurement,
  type ViewerMeasurement,
} from '../measurements';

type Saved = components['schemas']['SavedViewerMeasurements'];
type Marked = components['schemas']['MarkedKeyImage'];

/** The pixel unit an image's attributes give: a CBF map's ml/100g/min, an ATT map's seconds, CT's HU. */
function unitOf(meta: DicomJson): ImageRef['unit'] {
  const q = quantityOf(meta);
  if (q === 'CBF') return 'ml/100g/min';
  if (q === 'ATT') return 's';
  return str(meta, 'Modality') === 'CT' ? 'HU' : undefined;
}
type Point3 = [number, number, number];

/** What the composable needs of cornerstone (the page passes the loaded modules). */
export interface MeasureRuntime {
  annotations: {
    all(): AnnotationLike[];
    add(annotation: object, group: string): void;
    remove(uid: string): void;
  };
  worldToImage(imageId: string, p: Point3): [number, number];
  imageToWorld(imageId: string, p: [number, number]): Point3;
  /** Frame of reference and plane normal of an image (from its registered metadata). */
  plane(imageId: string): { frameOfReference: string; normal: Point3 } | undefined;
  render(): void;
}

export interface ListEntry {
  uid: string;
  tool: MeasureTool;
  seriesUid: string;
  imageId: string;
  index: number;
  text: string;
  label: string;
}

export interface MeasurementsOptions {
  studyUid: string;
  runtime: () => MeasureRuntime | undefined;
  frames: (seriesUid: string) => Promise<FrameRef[]>;
  registerSeries: (seriesUid: string, frames: FrameRef[]) => string[];
  getJson?: (url: string) => Promise<DicomJson[]>;
  post?: (url: string, body: unknown) => Promise<Saved>;
  postKey?: (url: string, body: unknown) => Promise<Marked>;
}

export function useMeasurements(options: MeasurementsOptions) {
  const getJson = options.getJson ?? ((url: string) => requestJson<DicomJson[]>(url, { accept: 'application/dicom+json', empty: [] }));
  const post = options.post ?? ((url: string, body: unknown) => requestJson<Saved>(url, { method: 'POST', json: body }));
  /** imageId → which image (series, instance, frame) and its place in its series. */
  const images = new Map<string, ImageRef & { index: number }>();
  /** Values read from the SR, for annotations whose image was not drawn yet (no cached statistics). */
  const stored = new Map<string, StoredMeasurement>();
  const entries = shallowRef<ListEntry[]>([]);
  const status = ref<{ key: 'idle' | 'saving' | 'saved' | 'loaded' | 'failed' | 'loadFailed' | 'unsaved'; number?: number; error?: string }>({ key: 'idle' });
  const dirty = ref(false);
  /** The last key image marked from the toolbar (a Key Object Selection in the study). */
  const keyImage = ref<{ key: 'idle' | 'marking' | 'marked' | 'failed'; number?: number; error?: string }>({ key: 'idle' });
  const postKey = options.postKey ?? ((url: string, body: unknown) => requestJson<Marked>(url, { method: 'POST', json: body }));

  /** Mark the image a pane shows as a key image of the study. */
  async function markKeyImage(image: ImageRef | undefined): Promise<Marked | undefined> {
    if (!image) return undefined;
    keyImage.value = { key: 'marking' };
    try {
      const marked = await postKey(`/api/studies/${options.studyUid}/key-images`, { series_instance_uid: image.seriesUid, sop_instance_uid: image.sopUid, frame: image.frame });
      keyImage.value = { key: 'marked', number: marked.instance_number };
      return marked;
    } catch (e) {
      keyImage.value = { key: 'failed', error: (e as Error).message };
      return undefined;
    }
  }

  /** Remember a registered series' images (called for every stack a pane shows). */
  function know(seriesUid: string, imageIds: string[], frames: FrameRef[]): void {
    imageIds.forEach((id, index) => images.set(id, { seriesUid, sopUid: frames[index].sopUid, frame: frames[index].frame, index, unit: unitOf(frames[index].meta) }));
  }

  function ours(): AnnotationLike[] {
    return (options.runtime()?.annotations.all() ?? []).filter((a) => toolOf(a.metadata.toolName) && a.metadata.referencedImageId && images.has(a.metadata.referencedImageId));
  }

  function asMeasurement(a: AnnotationLike): ViewerMeasurement | undefined {
    const rt = options.runtime();
    const imageId = a.metadata.referencedImageId ?? '';
    if (!rt) return undefined;
    const m = toMeasurement(a, images.get(imageId), (p) => rt.worldToImage(imageId, p));
    const before = a.annotationUID ? stored.get(a.annotationUID) : undefined;
    if (m && before && !Object.keys(m.values ?? {}).length) {
      m.values = before.values;
      m.units = before.units;
    }
    return m;
  }

  /** Rebuild the list (after an annotation was drawn, changed or removed, or an image drawn). */
  function refresh(): void {
    const next: ListEntry[] = [];
    for (const a of ours()) {
      const m = asMeasurement(a);
      const image = images.get(a.metadata.referencedImageId ?? '');
      if (!m || !image) continue;
      next.push({ uid: a.annotationUID ?? '', tool: m.tool, seriesUid: image.seriesUid, imageId: a.metadata.referencedImageId ?? '', index: image.index, text: summary({ tool: m.tool, values: m.values ?? {} }, m.units ?? {}), label: m.label ?? '' });
    }
    next.sort((x, y) => x.seriesUid.localeCompare(y.seriesUid) || x.index - y.index);
    const same = next.length === entries.value.length && next.every((e, i) => JSON.stringify(e) === JSON.stringify(entries.value[i]));
    if (!same) entries.value = next;
  }

  /** The list grouped by series, in the order of the series list. */
  const bySeries = computed(() => {
    const groups = new Map<string, ListEntry[]>();
    for (const e of entries.value) groups.set(e.seriesUid, [...(groups.get(e.seriesUid) ?? []), e]);
    return groups;
  });

  function changed(): void {
    dirty.value = true;
    if (status.value.key !== 'saving') status.value = { key: 'unsaved' };
    refresh();
  }

  async function save(): Promise<Saved | undefined> {
    const measurements = ours().map(asMeasurement).filter((m): m is ViewerMeasurement => !!m);
    status.value = { key: 'saving' };
    try {
      const saved = await post(`/api/studies/${options.studyUid}/measurements`, { measurements });
      status.value = { key: 'saved', number: saved.instance_number };
      dirty.value = false;
      return saved;
    } catch (e) {
      status.value = { key: 'failed', error: (e as Error).message };
      return undefined;
    }
  }

  function remove(uid: string): void {
    options.runtime()?.annotations.remove(uid);
    stored.delete(uid);
    options.runtime()?.render();
    changed();
  }

  function clearAll(): void {
    for (const a of ours()) if (a.annotationUID) options.runtime()?.annotations.remove(a.annotationUID);
    stored.clear();
    options.runtime()?.render();
    changed();
  }

  /** Put the saved measurements back on their images (the newest report of the study's measurement series). */
  async function load(series: DicomJson[]): Promise<number> {
    const rt = options.runtime();
    const srSeries = series.filter((s) => str(s, 'Modality') === 'SR' && (num(s, 'SeriesNumber') === SR_SERIES.number || str(s, 'SeriesDescription') === SR_SERIES.description));
    if (!rt || !srSeries.length) return 0;
    try {
      const instances = (
        await Promise.all(srSeries.map((s) => getJson(`${DICOMWEB}/studies/${options.studyUid}/series/${str(s, 'SeriesInstanceUID')}/instances?includefield=00200013,00080023,00080033`)))
      ).flat();
      const newest = newestReport(instances);
      if (!newest) return 0;
      const [sr] = await getJson(`${DICOMWEB}/studies/${options.studyUid}/series/${str(newest, 'SeriesInstanceUID')}/instances/${str(newest, 'SOPInstanceUID')}/metadata`);
      const found = sr ? measurementsOfSr(sr) : [];
      // The images' series: their frames registered with the loader, so the points can go to world space.
      const bySop = new Map<string, string>();
      for (const s of series) {
        const uid = str(s, 'SeriesInstanceUID');
        if (str(s, 'Modality') === 'SR') continue;
        if (![...images.values()].some((i) => i.seriesUid === uid) && found.length) {
          const frames = await options.frames(uid).catch(() => []);
          if (frames.some((f) => found.some((m) => m.sopUid === f.sopUid))) know(uid, options.registerSeries(uid, frames), frames);
        }
      }
      for (const [id, image] of images) bySop.set(`${image.sopUid}/${image.frame}`, id);
      let placed = 0;
      for (const m of found) {
        const imageId = bySop.get(`${m.sopUid}/${m.frame}`);
        const plane = imageId ? rt.plane(imageId) : undefined;
        if (!imageId || !plane) continue;
        const world = m.points.map((p) => rt.imageToWorld(imageId, p));
        const handles = { points: m.tool === 'freehand' ? [] : world, activeHandleIndex: null, textBox: { hasMoved: false, worldPosition: [0, 0, 0], worldBoundingBox: { topLeft: [0, 0, 0], topRight: [0, 0, 0], bottomLeft: [0, 0, 0], bottomRight: [0, 0, 0] } } };
        rt.annotations.add(
          {
            annotationUID: m.uid,
            highlighted: false,
            invalidated: true,
            isLocked: false,
            isVisible: true,
            autoGenerated: false,
            metadata: { toolName: CS_TOOL[m.tool], referencedImageId: imageId, FrameOfReferenceUID: plane.frameOfReference, viewPlaneNormal: plane.normal },
            data: { label: m.label, handles, cachedStats: {}, ...(m.tool === 'freehand' ? { contour: { polyline: world, closed: true } } : {}) },
          },
          plane.frameOfReference,
        );
        stored.set(m.uid, m);
        placed += 1;
      }
      status.value = { key: 'loaded', number: num(newest, 'InstanceNumber') ?? 0 };
      dirty.value = false;
      rt.render();
      refresh();
      return placed;
    } catch (e) {
      status.value = { key: 'loadFailed', error: (e as Error).message };
      return 0;
    }
  }

  /** The image an image id names (a pane's current image), if its series is known. */
  const imageOf = (imageId: string | undefined): ImageRef | undefined => (imageId ? images.get(imageId) : undefined);

  return { entries, bySeries, status, dirty, keyImage, know, refresh, changed, save, remove, clearAll, load, markKeyImage, imageOf };
}

export type Measurements = ReturnType<typeof useMeasurements>;
