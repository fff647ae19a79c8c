// Cornerstone3D set-up: one init for the page, WADO-RS image ids, the tool group used by every viewport.
import {
  init as coreInit,
  getRenderingEngine,
  RenderingEngine,
  getShouldUseCPURendering,
  getRenderingCapabilities,
  setUseCPURendering,
  imageLoader,
  imageLoadPoolManager,
  cache,
  Enums as csEnums,
} from '@cornerstonejs/core';
import * as csTools from '@cornerstonejs/tools';
import dicomImageLoader, { init as dicomLoaderInit } from '@cornerstonejs/dicom-image-loader';
import type { DicomJson } from '../api/dicomJson';
import { DICOMWEB, type FrameRef } from '../api/client';

export const ENGINE_ID = 'cirrus-engine';
export const TOOL_GROUP_ID = 'cirrus-tools';

export const TOOLS = {
  wl: csTools.WindowLevelTool.toolName,
  pan: csTools.PanTool.toolName,
  zoom: csTools.ZoomTool.toolName,
  scroll: csTools.StackScrollTool.toolName,
  magnify: csTools.MagnifyTool.toolName,
  length: csTools.LengthTool.toolName,
  angle: csTools.AngleTool.toolName,
  ellipse: csTools.EllipticalROITool.toolName,
  rectangle: csTools.RectangleROITool.toolName,
} as const;
export type ToolKey = keyof typeof TOOLS;
export const REFERENCE_LINES = csTools.ReferenceLinesTool.toolName;

let ready: Promise<void> | undefined;

export function initCornerstone(): Promise<void> {
  ready ??= (async () => {
    coreInit();
    // WebGL emulated on the CPU (SwiftShader/llvmpipe: VMs, remote desktops, headless) is several times
    // slower for 2-D stacks than cornerstone's own canvas path, so take the CPU path there.
    // `?render=gpu|cpu` overrides for comparison.
    const forced = new URLSearchParams(location.search).get('render');
    if (forced === 'cpu' || (forced !== 'gpu' && getRenderingCapabilities().softwareRasterizer)) {
      setUseCPURendering(true);
    }
    dicomLoaderInit({
      maxWebWorkers: Math.max(1, Math.min(4, (navigator.hardwareConcurrency || 2) - 1)),
    });
    csTools.init();
    for (const tool of [
      csTools.WindowLevelTool,
      csTools.PanTool,
      csTools.ZoomTool,
      csTools.StackScrollTool,
      csTools.MagnifyTool,
      csTools.LengthTool,
      csTools.AngleTool,
      csTools.EllipticalROITool,
      csTools.RectangleROITool,
      csTools.ReferenceLinesTool,
    ]) {
      csTools.addTool(tool);
    }
    // Image cache sized for a few CT series (the default is 1 GB; phones and shared desktops have less).
    cache.setMaxCacheSize(768 * 1024 * 1024);
  })();
  return ready;
}

export function cpuRendering(): boolean {
  return getShouldUseCPURendering();
}

export function engine(): RenderingEngine {
  return (getRenderingEngine(ENGINE_ID) as RenderingEngine | undefined) ?? new RenderingEngine(ENGINE_ID);
}

export function toolGroup(): csTools.Types.IToolGroup {
  const existing = csTools.ToolGroupManager.getToolGroup(TOOL_GROUP_ID);
  if (existing) return existing;
  const group = csTools.ToolGroupManager.createToolGroup(TOOL_GROUP_ID)!;
  for (const name of Object.values(TOOLS)) group.addTool(name);
  group.addTool(REFERENCE_LINES);
  const { MouseBindings } = csTools.Enums;
  group.setToolActive(TOOLS.wl, { bindings: [{ mouseButton: MouseBindings.Primary }] });
  group.setToolActive(TOOLS.pan, { bindings: [{ mouseButton: MouseBindings.Auxiliary }] });
  group.setToolActive(TOOLS.zoom, { bindings: [{ mouseButton: MouseBindings.Secondary }] });
  group.setToolActive(TOOLS.scroll, { bindings: [{ mouseButton: MouseBindings.Wheel }] });
  for (const name of [TOOLS.length, TOOLS.angle, TOOLS.ellipse, TOOLS.rectangle]) group.setToolPassive(name);
  return group;
}

/** Make `key` the left-button tool; annotation tools stay visible (passive) when another is chosen. */
export function setPrimaryTool(key: ToolKey): void {
  const group = toolGroup();
  const { MouseBindings } = csTools.Enums;
  for (const [k, name] of Object.entries(TOOLS)) {
    if (k === key || name === TOOLS.pan || name === TOOLS.zoom) continue;
    if (k === 'scroll') continue;
    group.setToolPassive(name);
  }
  if (key === 'scroll') {
    group.setToolActive(TOOLS.scroll, {
      bindings: [{ mouseButton: MouseBindings.Primary }, { mouseButton: MouseBindings.Wheel }],
    });
    return;
  }
  group.setToolActive(TOOLS.scroll, { bindings: [{ mouseButton: MouseBindings.Wheel }] });
  const bindings = [{ mouseButton: MouseBindings.Primary }];
  if (key === 'pan') bindings.push({ mouseButton: MouseBindings.Auxiliary });
  if (key === 'zoom') bindings.push({ mouseButton: MouseBindings.Secondary });
  group.setToolActive(TOOLS[key], { bindings });
  if (key !== 'pan') group.setToolActive(TOOLS.pan, { bindings: [{ mouseButton: MouseBindings.Auxiliary }] });
  if (key !== 'zoom') group.setToolActive(TOOLS.zoom, { bindings: [{ mouseButton: MouseBindings.Secondary }] });
}

export function frameImageId(studyUid: string, seriesUid: string, ref: FrameRef): string {
  return `wadors:${location.origin}${DICOMWEB}/studies/${studyUid}/series/${seriesUid}/instances/${ref.sopUid}/frames/${ref.frame}`;
}

/** Register each frame's metadata with the WADO-RS loader and return the ordered image ids. */
export function registerSeries(studyUid: string, seriesUid: string, frames: FrameRef[]): string[] {
  return frames.map((ref) => {
    const id = frameImageId(studyUid, seriesUid, ref);
    dicomImageLoader.wadors.metaDataManager.add(id, ref.meta as unknown as Parameters<typeof dicomImageLoader.wadors.metaDataManager.add>[1]);
    return id;
  });
}

/**
 * Fetch the rest of a stack in the background, nearest to the shown image first, so scrolling reads
 * from the cache. Requests go through the loader's prefetch queue, behind interaction requests.
 */
export function prefetchStack(imageIds: string[], from: number): void {
  const order = [...imageIds.keys()].sort((a, b) => Math.abs(a - from) - Math.abs(b - from));
  for (const i of order) {
    const id = imageIds[i];
    if (cache.isLoaded(id)) continue;
    imageLoadPoolManager.addRequest(
      () => imageLoader.loadAndCacheImage(id).then(() => undefined, () => undefined),
      csEnums.RequestType.Prefetch,
      { imageId: id },
      Math.abs(i - from),
    );
  }
}

export type { DicomJson };
