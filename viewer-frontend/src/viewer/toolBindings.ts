// The viewer's cornerstone tools and their mouse bindings. One rule: after every switch exactly one
// tool holds the primary (left) button; the previous one is made passive, which removes its primary
// binding but keeps its other ones (pan on the middle button, zoom on the right, scroll on the wheel).
// cornerstone's setToolActive *adds* bindings to the ones a tool already has, so re-activating pan
// with "middle button" alone would leave it on the left button too — hence passive first.
import * as csTools from '@cornerstonejs/tools';
import { StackCrosshairTool } from './crosshair';

/** The lens: its size in CSS pixels and how many times it magnifies what is under the cursor. */
export const LENS = { size: 200, factor: 2 };

/**
 * Where the lens reads from: the square of the viewport canvas (device pixels) centred on the cursor
 * that fills a lens of `lensPx` device pixels at `factor` times its size.
 */
export function lensSource(cursor: [number, number], lensPx: number, factor: number): { sx: number; sy: number; size: number } {
  const size = lensPx / factor;
  return { sx: cursor[0] - size / 2, sy: cursor[1] - size / 2, size };
}

interface PointerDetail {
  element: HTMLDivElement;
  currentPoints: { canvas: [number, number] };
}

/**
 * The magnifier: a lens over the cursor showing the neighbourhood under it at LENS.factor, drawn from
 * the viewport's own canvas (and the CBF overlay's, when one is shown), so it shows exactly what is on
 * screen there — window, colour map, overlay — on the CPU and the GPU path alike. (cornerstone's
 * MagnifyTool renders a second viewport whose camera is reset when its image arrives on the CPU path:
 * it then shows the whole slice, shrunken.)
 */
export class LensTool extends csTools.BaseTool {
  static toolName = 'CirrusLens';
  private lens?: HTMLCanvasElement;
  private host?: HTMLDivElement;

  constructor(props: Record<string, unknown> = {}) {
    super(props, { supportedInteractionTypes: ['Mouse', 'Touch'], configuration: { size: LENS.size, factor: LENS.factor } });
  }

  preMouseDownCallback = (evt: { detail: unknown; preventDefault?: () => void }): boolean => {
    const detail = evt.detail as PointerDetail;
    this.host = detail.element;
    this.show(detail.currentPoints.canvas);
    const end = () => this.hide();
    const E = csTools.Enums.Events;
    for (const name of [E.MOUSE_UP, E.MOUSE_CLICK, E.TOUCH_END]) detail.element.addEventListener(name, end, { once: true });
    evt.preventDefault?.();
    return true;
  };

  preTouchStartCallback = (evt: { detail: unknown; preventDefault?: () => void }): boolean => this.preMouseDownCallback(evt);

  mouseDragCallback(evt: { detail: unknown }): void {
    this.show((evt.detail as PointerDetail).currentPoints.canvas);
  }

  touchDragCallback(evt: { detail: unknown }): void {
    this.mouseDragCallback(evt);
  }

  private show(cursor: [number, number]): void {
    const host = this.host;
    if (!host) return;
    const parent = (host.querySelector('.viewport-element') as HTMLElement | null) ?? host;
    const source = parent.querySelector('canvas.cornerstone-canvas') as HTMLCanvasElement | null;
    if (!source) return;
    const { size, factor } = this.configuration as { size: number; factor: number };
    if (!this.lens) {
      this.lens = document.createElement('canvas');
      this.lens.className = 'cirrus-lens';
      Object.assign(this.lens.style, { position: 'absolute', width: `${size}px`, height: `${size}px`, pointerEvents: 'none', border: '1px solid #9ab', borderRadius: '4px', zIndex: '5', background: '#000' });
      parent.appendChild(this.lens);
    }
    const dpr = source.width / Math.max(1, source.clientWidth);
    const px = Math.round(size * dpr);
    if (this.lens.width !== px) this.lens.width = this.lens.height = px;
    this.lens.style.left = `${cursor[0] - size / 2}px`;
    this.lens.style.top = `${cursor[1] - size / 2}px`;
    const ctx = this.lens.getContext('2d');
    if (!ctx) return;
    const { sx, sy, size: side } = lensSource([cursor[0] * dpr, cursor[1] * dpr], px, factor);
    ctx.imageSmoothingEnabled = false;
    ctx.fillStyle = '#000';
    ctx.fillRect(0, 0, px, px);
    ctx.drawImage(source, sx, sy, side, side, 0, 0, px, px);
    const overlay = parent.querySelector('canvas.parametric-overlay') as HTMLCanvasElement | null;
    if (overlay?.width) {
      const k = overlay.width / Math.max(1, source.width);
      ctx.drawImage(overlay, sx * k, sy * k, side * k, side * k, 0, 0, px, px);
    }
  }

  private hide(): void {
    this.lens?.remove();
    this.lens = undefined;
    this.host = undefined;
  }
}

/**
 * W/L drag sensitivity in value units per pixel: a drag across ~500 px sweeps the image's whole data
 * range, so a 10 px drag on a CBF map (0–150 ml/100g/min) moves the width by ~3, on a CT (−1024–3000 HU)
 * by ~80. cornerstone derives it from the stored integer range instead (65 536 on a rescaled int16 map).
 */
export function dragSensitivity(min: number, max: number): number {
  const range = max - min;
  return Number.isFinite(range) && range > 0 ? range / 512 : 1;
}

/** The modality-value range of an image's pixels (after Rescale Slope/Intercept). */
export function valueRange(pixels: ArrayLike<number>, slope = 1, intercept = 0): [number, number] {
  let min = Infinity;
  let max = -Infinity;
  for (let i = 0; i < pixels.length; i += 1) {
    const v = pixels[i];
    if (v < min) min = v;
    if (v > max) max = v;
  }
  const [a, b] = [min * slope + intercept, max * slope + intercept];
  return a <= b ? [a, b] : [b, a];
}

interface LoadedImage {
  getPixelData(): ArrayLike<number>;
  slope?: number;
  intercept?: number;
  preScale?: { scaled?: boolean };
}
const ranges = new WeakMap<object, [number, number]>();

/** The shown image's value range, cached per image. */
export function imageValueRange(image: LoadedImage): [number, number] {
  let range = ranges.get(image);
  if (!range) {
    const scaled = image.preScale?.scaled;
    range = scaled ? valueRange(image.getPixelData()) : valueRange(image.getPixelData(), image.slope ?? 1, image.intercept ?? 0);
    ranges.set(image, range);
  }
  return range;
}

/** Window/level whose drag sensitivity follows the data range of the image shown. */
export class WindowLevelByRangeTool extends csTools.WindowLevelTool {
  static toolName = 'CirrusWindowLevel';
  _getMultiplierFromDynamicRange(viewport: unknown, volumeId?: string): number {
    const image = (viewport as { getCornerstoneImage?: () => LoadedImage | undefined }).getCornerstoneImage?.();
    if (!image) return super._getMultiplierFromDynamicRange(viewport as never, volumeId as never);
    const [min, max] = imageValueRange(image);
    return dragSensitivity(min, max);
  }
}


export const TOOLS = {
  wl: WindowLevelByRangeTool.toolName,
  pan: csTools.PanTool.toolName,
  zoom: csTools.ZoomTool.toolName,
  scroll: csTools.StackScrollTool.toolName,
  magnify: LensTool.toolName,
  length: csTools.LengthTool.toolName,
  angle: csTools.AngleTool.toolName,
  ellipse: csTools.EllipticalROITool.toolName,
  rectangle: csTools.RectangleROITool.toolName,
  freehand: csTools.PlanarFreehandROITool.toolName,
  probe: csTools.ProbeTool.toolName,
  eraser: csTools.EraserTool.toolName,
  crosshair: StackCrosshairTool.toolName,
} as const;
export type ToolKey = keyof typeof TOOLS;
export const TOOL_KEYS = Object.keys(TOOLS) as ToolKey[];
export const REFERENCE_LINES = csTools.ReferenceLinesTool.toolName;

/** The tool classes, registered once with cornerstone (csTools.addTool). */
export const TOOL_CLASSES = [
  WindowLevelByRangeTool,
  csTools.PanTool,
  csTools.ZoomTool,
  csTools.StackScrollTool,
  LensTool,
  csTools.LengthTool,
  csTools.AngleTool,
  csTools.EllipticalROITool,
  csTools.RectangleROITool,
  csTools.PlanarFreehandROITool,
  csTools.ProbeTool,
  csTools.EraserTool,
  StackCrosshairTool,
  csTools.ReferenceLinesTool,
];

const { MouseBindings } = csTools.Enums;
type Group = csTools.Types.IToolGroup;
type Binding = { mouseButton: number };

/** The buttons a tool keeps whichever tool is on the left button. */
const SECONDARY_BINDINGS: Partial<Record<ToolKey, Binding[]>> = {
  pan: [{ mouseButton: MouseBindings.Auxiliary }],
  zoom: [{ mouseButton: MouseBindings.Secondary }],
  scroll: [{ mouseButton: MouseBindings.Wheel }],
};

export function addTools(group: Group): void {
  for (const name of Object.values(TOOLS)) group.addTool(name);
  group.addTool(REFERENCE_LINES);
  setPrimaryTool(group, 'wl');
}

/** Make `key` the left-button tool; every other tool loses the left button (annotations stay visible). */
export function setPrimaryTool(group: Group, key: ToolKey): void {
  for (const k of TOOL_KEYS) {
    if (k !== key) group.setToolPassive(TOOLS[k]);
  }
  for (const k of TOOL_KEYS) {
    const kept = SECONDARY_BINDINGS[k];
    if (k !== key && kept) group.setToolActive(TOOLS[k], { bindings: kept });
  }
  group.setToolActive(TOOLS[key], { bindings: [{ mouseButton: MouseBindings.Primary }, ...(SECONDARY_BINDINGS[key] ?? [])] });
}

/** The tools bound to the primary mouse button now (for tests and the perf probe). */
export function primaryTools(group: Group): string[] {
  return Object.values(TOOLS).filter((name) =>
    (group.getToolOptions(name)?.bindings ?? []).some((b: { mouseButton?: number; modifierKey?: unknown }) => b.mouseButton === MouseBindings.Primary && !b.modifierKey),
  );
}

/** A tool's mode and bindings as cornerstone holds them. */
export function toolState(group: Group, key: ToolKey): { mode: string | undefined; buttons: number[] } {
  const options = group.getToolOptions(TOOLS[key]);
  return { mode: options?.mode, buttons: (options?.bindings ?? []).map((b: { mouseButton?: number }) => b.mouseButton ?? -1).sort() };
}
