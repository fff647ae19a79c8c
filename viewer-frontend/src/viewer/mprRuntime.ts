// MPR of one volume series: three orthographic volume viewports (axial, sagittal, coronal) on their
// own rendering engine and tool group, the volume streamed from the stack's image ids (already in the
// image cache as the stack was scrolled), crosshairs on the left button, slices on the wheel, zoom on
// the right button and pan on the middle one.
//
// Volume viewports need WebGL: cornerstone refuses them while its CPU fallback is on (the stack
// viewer takes it where WebGL is emulated in software). The fallback is a global read when a viewport
// is made, so it is off while these viewports are made, and back on for the stack viewer afterwards.
import {
  Enums,
  RenderingEngine,
  getShouldUseCPURendering,
  setUseCPURendering,
  setVolumesForViewports,
  volumeLoader,
  cache,
  type Types,
} from '@cornerstonejs/core';
import { CrosshairsTool, PanTool, StackScrollTool, ToolGroupManager, ZoomTool, addTool, Enums as ToolEnums } from '@cornerstonejs/tools';

export const MPR_ENGINE_ID = 'cirrus-mpr-engine';
const MPR_TOOL_GROUP_ID = 'cirrus-mpr-tools';
export const MPR_PLANES = ['axial', 'sagittal', 'coronal'] as const;
export type MprPlane = (typeof MPR_PLANES)[number];
export const mprViewportId = (plane: MprPlane): string => `mpr-${plane}`;

const ORIENTATION: Record<MprPlane, Enums.OrientationAxis> = {
  axial: Enums.OrientationAxis.AXIAL,
  sagittal: Enums.OrientationAxis.SAGITTAL,
  coronal: Enums.OrientationAxis.CORONAL,
};

let toolsAdded = false;

function toolGroup() {
  const existing = ToolGroupManager.getToolGroup(MPR_TOOL_GROUP_ID);
  if (existing) return existing;
  if (!toolsAdded) {
    // The stack viewer's tools are registered already (Pan, Zoom, StackScroll); Crosshairs is MPR's own.
    try {
      addTool(CrosshairsTool);
    } catch {
      /* registered by an earlier MPR */
    }
    toolsAdded = true;
  }
  const group = ToolGroupManager.createToolGroup(MPR_TOOL_GROUP_ID)!;
  for (const tool of [CrosshairsTool, PanTool, ZoomTool, StackScrollTool]) group.addTool(tool.toolName);
  const { Primary, Secondary, Auxiliary, Wheel } = ToolEnums.MouseBindings;
  group.setToolActive(CrosshairsTool.toolName, { bindings: [{ mouseButton: Primary }] });
  group.setToolActive(ZoomTool.toolName, { bindings: [{ mouseButton: Secondary }] });
  group.setToolActive(PanTool.toolName, { bindings: [{ mouseButton: Auxiliary }] });
  group.setToolActive(StackScrollTool.toolName, { bindings: [{ mouseButton: Wheel }] });
  return group;
}

export interface MprHandle {
  engine: RenderingEngine;
  volumeId: string;
  viewport(plane: MprPlane): Types.IVolumeViewport | undefined;
  destroy(): void;
}

export async function openMpr(elements: Record<MprPlane, HTMLDivElement>, seriesUid: string, imageIds: string[]): Promise<MprHandle> {
  const cpu = getShouldUseCPURendering();
  // `false`: leave the stack viewports' pipelines as they are (they keep the path they were made with).
  setUseCPURendering(false, false);
  let engine: RenderingEngine;
  try {
    engine = new RenderingEngine(MPR_ENGINE_ID);
    engine.setViewports(
      MPR_PLANES.map((plane) => ({
        viewportId: mprViewportId(plane),
        type: Enums.ViewportType.ORTHOGRAPHIC,
        element: elements[plane],
        defaultOptions: { orientation: ORIENTATION[plane], background: [0, 0, 0] as Types.Point3 },
      })),
    );
  } finally {
    setUseCPURendering(cpu, false);
  }
  const group = toolGroup();
  for (const plane of MPR_PLANES) group.addViewport(mprViewportId(plane), MPR_ENGINE_ID);
  const volumeId = `cornerstoneStreamingImageVolume:cirrus-mpr-${seriesUid}`;
  const volume = await volumeLoader.createAndCacheVolume(volumeId, { imageIds });
  (volume as { load?: () => void }).load?.();
  await setVolumesForViewports(engine, [{ volumeId }], MPR_PLANES.map(mprViewportId));
  engine.render();
  return {
    engine,
    volumeId,
    viewport: (plane) => engine.getViewport(mprViewportId(plane)) as Types.IVolumeViewport | undefined,
    destroy() {
      for (const plane of MPR_PLANES) group.removeViewports(MPR_ENGINE_ID, mprViewportId(plane));
      engine.destroy();
      cache.removeVolumeLoadObject(volumeId);
    },
  };
}
