// The viewer's cornerstone tools and their mouse bindings. One rule: after every switch exactly one
// tool holds the primary (left) button; the previous one is made passive, which removes its primary
// binding but keeps its other ones (pan on the middle button, zoom on the right, scroll on the wheel).
// cornerstone's setToolActive *adds* bindings to the ones a tool already has, so re-activating pan
// with "middle button" alone would leave it on the left button too — hence passive first.
import * as csTools from '@cornerstonejs/tools';

/** The lens: its size in CSS pixels and how many times it magnifies what is under the cursor. */
export const LENS = { size: 200, factor: 2 };

/**
 * cornerstone's MagnifyTool divides the viewport's parallel scale (half the world height the whole
 * viewport shows) by `magnifySize` and shows that in the lens, so its real magnification is
 * magnifySize × lens height / viewport height: a small value on a tall viewport shows a shrunken copy
 * of the slice. This is the magnifySize that gives `factor` on a viewport `viewportHeight` px high.
 */
export function magnifySizeFor(factor: number, viewportHeight: number, lensHeight: number): number {
  return (factor * Math.max(1, viewportHeight)) / Math.max(1, lensHeight);
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

/** MagnifyTool whose lens magnifies by LENS.factor whatever the viewport's size. */
export class LensTool extends csTools.MagnifyTool {
  static toolName = 'CirrusLens';
  constructor(props: ConstructorParameters<typeof csTools.MagnifyTool>[0] = {}) {
    super({ ...props, configuration: { magnifyWidth: LENS.size, magnifyHeight: LENS.size, ...(props?.configuration ?? {}) } });
    const start = this.preMouseDownCallback;
    this.preMouseDownCallback = (evt) => {
      const element = (evt.detail as { element: HTMLDivElement }).element;
      const { magnifyHeight } = this.configuration as { magnifyHeight: number };
      this.configuration.magnifySize = magnifySizeFor(LENS.factor, element.clientHeight, magnifyHeight);
      return start(evt);
    };
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
  probe: csTools.ProbeTool.toolName,
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
  csTools.ProbeTool,
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
