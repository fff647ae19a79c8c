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
  utilities as csUtilities,
  Enums as csEnums,
} from '@cornerstonejs/core';
import * as csTools from '@cornerstonejs/tools';
import dicomImageLoader, { init as dicomLoaderInit } from '@cornerstonejs/dicom-image-loader';
import type { DicomJson } from '../api/dicomJson';
import { DICOMWEB, type FrameRef } from '../api/client';
import { perfusionColormap } from './fusion';
import { TOOL_CLASSES, addTools, setPrimaryTool as bindPrimary, type ToolKey } from './toolBindings';

export const ENGINE_ID = 'cirrus-engine';
export const TOOL_GROUP_ID = 'cirrus-tools';

export { TOOLS, REFERENCE_LINES, type ToolKey } from './toolBindings';

/** What the loader asks a frame in: the bitstream as stored, single-part (one frame per request). */
export const FRAME_ACCEPT = 'application/octet-stream; transfer-syntax=*';

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
      // One frame per request, so ask for it single-part: the loader then takes the body as it is.
      // A multipart answer is searched byte by byte for its closing boundary on the main thread
      // (hundreds of ms per 512×512 frame on a loaded machine: it held back the first image and scroll).
      beforeSend: () => ({ Accept: FRAME_ACCEPT }),
    });
    csTools.init();
    for (const tool of TOOL_CLASSES) csTools.addTool(tool);
    // The perfusion palette (jet, black at the bottom), shared with the overlay, the colour bar and the server.
    csUtilities.colormap.registerColormap(perfusionColormap() as unknown as Parameters<typeof csUtilities.colormap.registerColormap>[0]);
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
  addTools(group);
  return group;
}

/** Make `key` the left-button tool (exactly one tool holds the left button after every switch). */
export function setPrimaryTool(key: ToolKey): void {
  bindPrimary(toolGroup(), key);
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
