// The viewport grid's state: the layout's slots, one cornerstone stack viewport per slot, what each slot
// shows (the display set the SOP-class registry made for its series) and the viewport events other
// parts listen to (rendered, VOI changed, new image, enabled/disabled, layout applied).
import { nextTick, reactive, ref, watch, type Ref } from 'vue';
import type { Types } from '@cornerstonejs/core';
import type { FrameRef } from '../../api/client';
import { str, type DicomJson } from '../../api/dicomJson';
import { t, type MessageKey } from '../../i18n';
import type { HandlerRegistry } from '../handlers/registry';
import { isMosaic, quantityOf } from '../derived';
import { imageKind, type ImageKind } from '../presets';

/** A User Timing mark (the first-image profile reads them; a no-op where there is no Performance API). */
const mark = (name: string): void => void globalThis.performance?.mark?.(name);

/** A codec download failure inside the decode worker, as emscripten reports it. */
export const CODEC_FAILURE = /\.wasm\b|Aborted\(|both async and sync fetching/i;

export type Layout = '1x1' | '1x2' | '2x2';
export const LAYOUT_SLOTS: Record<Layout, number> = { '1x1': 1, '1x2': 2, '2x2': 4 };
const MAX_SLOTS = 4;
export const vpId = (i: number): string => `vp-${i}`;

export interface Slot {
  seriesUid: string;
  index: number;
  count: number;
  loading: boolean;
  error: string;
  /** What the series is shown as; undefined until it is loaded. */
  kind?: 'stack' | 'document' | 'unsupported';
  /** Encapsulated document (the analysis report PDF): a button instead of pixels. */
  document?: { uri: string; mediaType: string };
  /** Why nothing is shown (an SR, an unknown object). */
  notice?: MessageKey;
  /** What the images hold, for presets and the colour bar (CT, CBF, ATT, MR, other). */
  imageKind?: ImageKind;
  /** Shown in the perfusion palette (a CBF/ATT map): the pane shows a colour bar. */
  colour?: boolean;
  /** A Siemens mosaic (no per-slice geometry): no overlay is placed on it. */
  mosaic?: boolean;
}

/** The parts of cornerstone this composable drives (the page builds it from the loaded modules). */
export interface ViewportRuntime {
  engine: {
    id: string;
    getViewport(id: string): unknown;
    enableElement(input: { viewportId: string; element: HTMLDivElement; type: Types.PublicViewportInput['type']; defaultOptions: { background: Types.Point3 } }): void;
    disableElement(id: string): void;
    resize(immediate?: boolean, keepCamera?: boolean): void;
  };
  group: { addViewport(viewportId: string, engineId: string): void; removeViewports(engineId: string, viewportId?: string): void };
  stackType: Types.PublicViewportInput['type'];
  events: { newImage: string; rendered: string; voiModified: string };
  /** Registers the frames' metadata with the image loader; returns their image ids. */
  registerSeries(seriesUid: string, frames: FrameRef[]): string[];
  prefetch(imageIds: string[], from: number): void;
}

interface Hooks {
  enabled: (i: number) => void;
  disabled: (i: number) => void;
  rendered: (i: number) => void;
  voi: (i: number) => void;
  newImage: (i: number, index: number) => void;
  loaded: (i: number) => void;
  layout: () => void;
}

export interface ViewportsOptions {
  series: Ref<DicomJson[]>;
  layout: Ref<Layout>;
  frames: (seriesUid: string) => Promise<FrameRef[]>;
  registry: HandlerRegistry;
  runtime: () => ViewportRuntime | undefined;
}

export function useViewports(options: ViewportsOptions) {
  const { series, layout, frames, registry, runtime } = options;
  const slots = reactive<Slot[]>([]);
  const active = ref(0);
  const elements: (HTMLDivElement | null)[] = [];
  const stacks = new Map<number, { imageIds: string[]; frames: FrameRef[] }>();
  const listeners = new Map<number, Record<string, EventListener>>();
  const hooks: { [K in keyof Hooks]: Hooks[K][] } = { enabled: [], disabled: [], rendered: [], voi: [], newImage: [], loaded: [], layout: [] };

  function on<K extends keyof Hooks>(name: K, fn: Hooks[K]): void {
    hooks[name].push(fn);
  }
  function emit<K extends keyof Hooks>(name: K, ...args: Parameters<Hooks[K]>): void {
    for (const fn of hooks[name]) (fn as (...a: Parameters<Hooks[K]>) => void)(...args);
  }

  /** The stack viewport of slot `i` (the engine holds only stack viewports). */
  function viewport(i: number): Types.IStackViewport | undefined {
    return runtime()?.engine.getViewport(vpId(i)) as Types.IStackViewport | undefined;
  }

  function bindElement(i: number, el: HTMLDivElement | null): void {
    elements[i] = el;
  }

  async function loadSeries(i: number, seriesUid: string): Promise<void> {
    const slot = slots[i];
    const rt = runtime();
    if (!slot || !rt) return;
    Object.assign(slot, { seriesUid, loading: true, error: '', kind: undefined, document: undefined, notice: undefined, imageKind: undefined, colour: false });
    try {
      const ordered = await frames(seriesUid);
      mark(`cirrus:frames:${i}`);
      if (slot.seriesUid !== seriesUid) return;
      if (!ordered.length) throw new Error(t('viewer.noPixels'));
      const set = registry.displaySet(ordered);
      slot.kind = set.kind;
      if (set.kind !== 'stack') {
        slot.count = 0;
        if (set.kind === 'document') slot.document = { uri: set.uri, mediaType: set.mediaType };
        else slot.notice = set.message;
        return;
      }
      const imageIds = rt.registerSeries(seriesUid, set.frames);
      stacks.set(i, { imageIds, frames: set.frames });
      const vp = viewport(i);
      if (!vp) return;
      // The middle of the stack: the first slice of a brain volume is often empty.
      const start = Math.floor(set.frames.length / 2);
      const meta = set.frames[start].meta;
      slot.imageKind = imageKind(str(meta, 'Modality'), quantityOf(meta));
      slot.colour = !!set.colormap;
      slot.mosaic = isMosaic(meta);
      slot.count = set.frames.length;
      slot.index = start;
      mark(`cirrus:set-stack:${i}`);
      await vp.setStack(imageIds, start);
      mark(`cirrus:stack-shown:${i}`);
      if (set.colormap) vp.setProperties({ colormap: { name: set.colormap } });
      vp.render();
      rt.prefetch(imageIds, start);
      emit('loaded', i);
    } catch (e) {
      slot.error = (e as Error).message;
    } finally {
      slot.loading = false;
    }
  }

  // A frame the server could not deliver or the browser could not decode: say so on that viewport
  // rather than leaving the previous image up without a word.
  function reportLoadError(imageId: string, error: unknown): void {
    for (const [i, stack] of stacks) {
      const index = stack.imageIds.indexOf(imageId);
      if (index < 0 || !slots[i] || slots[i].index !== index) continue;
      const err = error as { status?: number; message?: string; request?: { status?: number } } | undefined;
      const status = err?.status ?? err?.request?.status;
      const message = err?.message ?? String(error);
      // The decode worker could not fetch a codec's .wasm (emscripten aborts with the file's URL).
      const detail = status ? `HTTP ${status}` : CODEC_FAILURE.test(message) ? t('viewer.codecFailed') : message;
      slots[i].error = `${t('viewer.image', { index: index + 1, count: stack.imageIds.length })}: ${detail}`;
    }
  }

  function attach(i: number, rt: ViewportRuntime): void {
    const el = elements[i];
    if (!el || listeners.has(i)) return;
    const handlers: Record<string, EventListener> = {
      [rt.events.newImage]: (e) => {
        const index = (e as CustomEvent<{ imageIdIndex: number }>).detail.imageIdIndex;
        if (slots[i]) {
          slots[i].index = index;
          slots[i].error = '';
        }
        emit('newImage', i, index);
      },
      [rt.events.rendered]: () => emit('rendered', i),
      [rt.events.voiModified]: () => emit('voi', i),
    };
    for (const [name, fn] of Object.entries(handlers)) el.addEventListener(name, fn);
    listeners.set(i, handlers);
  }

  function detach(i: number): void {
    const el = elements[i];
    const handlers = listeners.get(i);
    if (el && handlers) for (const [name, fn] of Object.entries(handlers)) el.removeEventListener(name, fn);
    listeners.delete(i);
  }

  function disable(i: number, rt: ViewportRuntime): void {
    if (!rt.engine.getViewport(vpId(i))) return;
    rt.group.removeViewports(rt.engine.id, vpId(i));
    detach(i);
    rt.engine.disableElement(vpId(i));
    stacks.delete(i);
    emit('disabled', i);
  }

  /** Series for new slots: the next ones not shown yet, else the first. */
  function nextSeries(shown: Set<string>): string {
    const next = series.value.find((s) => !shown.has(str(s, 'SeriesInstanceUID')));
    return str(next ?? series.value[0], 'SeriesInstanceUID');
  }

  async function applyLayout(): Promise<void> {
    const rt = runtime();
    if (!rt) return;
    const wanted = LAYOUT_SLOTS[layout.value];
    for (let i = wanted; i < MAX_SLOTS; i += 1) disable(i, rt);
    while (slots.length > wanted) slots.pop();
    const shown = new Set(slots.map((s) => s.seriesUid));
    const fresh: number[] = [];
    while (slots.length < wanted) {
      const uid = nextSeries(shown);
      shown.add(uid);
      slots.push({ seriesUid: uid, index: 0, count: 0, loading: false, error: '' });
      fresh.push(slots.length - 1);
    }
    if (active.value >= wanted) active.value = 0;
    await nextTick();
    for (let i = 0; i < wanted; i += 1) {
      const el = elements[i];
      if (!el || rt.engine.getViewport(vpId(i))) continue;
      rt.engine.enableElement({ viewportId: vpId(i), element: el, type: rt.stackType, defaultOptions: { background: [0, 0, 0] } });
      rt.group.addViewport(vpId(i), rt.engine.id);
      attach(i, rt);
      emit('enabled', i);
    }
    rt.engine.resize(true, true);
    for (const i of fresh) if (slots[i]?.seriesUid) loadSeries(i, slots[i].seriesUid);
    emit('layout');
  }

  function setActive(i: number): void {
    active.value = i;
  }

  /** Every viewport off (leaving the page). */
  function destroy(): void {
    const rt = runtime();
    if (!rt) return;
    for (let i = 0; i < MAX_SLOTS; i += 1) disable(i, rt);
  }

  watch(layout, () => applyLayout());

  return {
    slots,
    active,
    stacks,
    on,
    viewport,
    element: (i: number) => elements[i] ?? undefined,
    viewportIds: () => slots.map((_, i) => vpId(i)),
    bindElement,
    loadSeries,
    reportLoadError,
    applyLayout,
    setActive,
    destroy,
  };
}

export type Viewports = ReturnType<typeof useViewports>;
