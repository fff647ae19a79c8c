// The crosshair across series (多序列十字线): the reader points at a spot in one viewport; every other
// viewport whose series shares its frame of reference goes to the slice nearest that spot and shows a
// cross where the spot lies on its plane. cornerstone's CrosshairsTool drives volume viewports of one
// volume (MPR); stacks of different series need this tool. It uses cornerstone's own pieces: the
// nearest-slice search of the stack utilities, the SVG drawing helpers and the annotation renderer.
import * as csTools from '@cornerstonejs/tools';
import { getEnabledElement, utilities, type Types } from '@cornerstonejs/core';

/** The spot pointed at, in patient coordinates (mm), and the frame of reference it belongs to. */
export interface Spot {
  world: Types.Point3;
  frameOfReference: string;
}

let spot: Spot | undefined;

/** The spot last pointed at (for the e2e tests and the corner texts). */
export function currentSpot(): Spot | undefined {
  return spot;
}

/** The four arms of a cross centred on `c`, leaving a gap of `gap` px around the spot itself. */
export function crossArms(c: [number, number], arm: number, gap: number): [Types.Point2, Types.Point2][] {
  const [x, y] = c;
  return [
    [[x - arm, y], [x - gap, y]],
    [[x + gap, y], [x + arm, y]],
    [[x, y - arm], [x, y - gap]],
    [[x, y + gap], [x, y + arm]],
  ];
}

interface PointerDetail {
  element: HTMLDivElement;
  currentPoints: { world: Types.Point3 };
}

type AnyViewport = Types.IViewport & Partial<Pick<Types.IStackViewport, 'getImageIds' | 'getCurrentImageIdIndex' | 'setImageIdIndex'>>;

export class StackCrosshairTool extends csTools.BaseTool {
  static toolName = 'CirrusCrosshair';

  constructor(props: Record<string, unknown> = {}) {
    super(props, { supportedInteractionTypes: ['Mouse', 'Touch'], configuration: { arm: 40, gap: 6, color: 'rgb(255, 210, 0)' } });
  }

  preMouseDownCallback = (evt: { detail: unknown; preventDefault?: () => void }): boolean => {
    this.point(evt.detail as PointerDetail);
    evt.preventDefault?.();
    return true;
  };

  preTouchStartCallback = (evt: { detail: unknown; preventDefault?: () => void }): boolean => this.preMouseDownCallback(evt);

  mouseDragCallback(evt: { detail: unknown }): void {
    this.point(evt.detail as PointerDetail);
  }

  touchDragCallback(evt: { detail: unknown }): void {
    this.mouseDragCallback(evt);
  }

  /** Point at `detail`'s spot: the other viewports of the frame of reference go to their nearest slice. */
  private point(detail: PointerDetail): void {
    const enabled = getEnabledElement(detail.element);
    if (!enabled) return;
    const source = enabled.viewport;
    const frameOfReference = source.getFrameOfReferenceUID();
    if (!frameOfReference) return;
    const world = [...detail.currentPoints.world] as Types.Point3;
    spot = { world, frameOfReference };
    const viewports = enabled.renderingEngine.getViewports() as AnyViewport[];
    for (const vp of viewports) {
      if (vp.id === source.id || vp.getFrameOfReferenceUID() !== frameOfReference || !vp.getImageIds || !vp.setImageIdIndex) continue;
      const index = utilities.getClosestStackImageIndexForPoint(world, vp as unknown as Types.IStackViewport);
      if (index !== null && index !== vp.getCurrentImageIdIndex?.()) vp.setImageIdIndex(index);
    }
    csTools.utilities.triggerAnnotationRenderForViewportIds(viewports.map((vp) => vp.id));
  }

  renderAnnotation = (enabledElement: Types.IEnabledElement, svgDrawingHelper: csTools.Types.SVGDrawingHelper): boolean => {
    const { viewport } = enabledElement;
    if (!spot || viewport.getFrameOfReferenceUID() !== spot.frameOfReference) return false;
    const { arm, gap, color } = this.configuration as { arm: number; gap: number; color: string };
    const centre = viewport.worldToCanvas(spot.world) as [number, number];
    crossArms(centre, arm, gap).forEach(([a, b], k) => {
      csTools.drawing.drawLine(svgDrawingHelper, StackCrosshairTool.toolName, `arm-${k}`, a, b, { color, lineWidth: 1.5 }, `cirrus-cross-${k}`);
    });
    return true;
  };
}
