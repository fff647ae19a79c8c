// Draws a parametric map (CBF) in colour over the anatomy shown in a stack viewport, on a canvas
// stacked above cornerstone's, placed with the viewport's own world→canvas mapping so zoom, pan,
// rotation and flips carry over.
import { imageLoader, metaData, type Types } from '@cornerstonejs/core';
import { affineFromCorners, colourise, perfusionLut, nearestSlice, type Plane, type Vec3 } from './fusion';

interface OverlayFrame {
  imageId: string;
  plane: Plane;
  rows: number;
  columns: number;
  rowSpacing: number;
  columnSpacing: number;
}

const LUT = perfusionLut();

function planeOf(imageId: string): Omit<OverlayFrame, 'imageId'> | undefined {
  const p = metaData.get('imagePlaneModule', imageId) as
    | { imagePositionPatient?: number[]; rowCosines?: number[]; columnCosines?: number[]; rows: number; columns: number; rowPixelSpacing?: number; columnPixelSpacing?: number }
    | undefined;
  if (!p?.imagePositionPatient || !p.rowCosines || !p.columnCosines) return undefined;
  return {
    plane: { position: p.imagePositionPatient as Vec3, rowCosines: p.rowCosines as Vec3, columnCosines: p.columnCosines as Vec3 },
    rows: p.rows,
    columns: p.columns,
    rowSpacing: p.rowPixelSpacing ?? 1,
    columnSpacing: p.columnPixelSpacing ?? 1,
  };
}

export class ParametricOverlay {
  private frames: OverlayFrame[] = [];
  private bitmaps = new Map<string, HTMLCanvasElement>();
  opacity = 0.5;
  min = 0;
  max = 100;

  private readonly canvas: HTMLCanvasElement;

  /**
   * The canvas goes inside cornerstone's viewport element, between its image canvas and its SVG
   * annotation layer, so measurements stay visible on top of the colour map.
   */
  constructor(private readonly viewport: Types.IStackViewport) {
    this.canvas = document.createElement('canvas');
    this.canvas.className = 'parametric-overlay';
    Object.assign(this.canvas.style, { position: 'absolute', inset: '0', width: '100%', height: '100%', pointerEvents: 'none' });
    const host = viewport.element.querySelector('.viewport-element') ?? viewport.element;
    host.insertBefore(this.canvas, host.querySelector('svg.svg-layer'));
  }

  destroy(): void {
    this.clear();
    this.canvas.remove();
  }

  setImages(imageIds: string[]): void {
    this.frames = imageIds.flatMap((imageId) => {
      const geometry = planeOf(imageId);
      return geometry ? [{ imageId, ...geometry }] : [];
    });
    this.bitmaps.clear();
    this.draw();
  }

  clear(): void {
    this.frames = [];
    this.bitmaps.clear();
    const ctx = this.canvas.getContext('2d');
    ctx?.clearRect(0, 0, this.canvas.width, this.canvas.height);
  }

  private async bitmap(frame: OverlayFrame): Promise<HTMLCanvasElement> {
    const key = `${frame.imageId}|${this.min}|${this.max}`;
    const cached = this.bitmaps.get(key);
    if (cached) return cached;
    const image = await imageLoader.loadAndCacheImage(frame.imageId);
    const off = document.createElement('canvas');
    off.width = image.columns;
    off.height = image.rows;
    const ctx = off.getContext('2d')!;
    const data = ctx.createImageData(image.columns, image.rows);
    // The image loader may have applied the Modality LUT already (preScale): the values are then real.
    const scaled = (image as { preScale?: { scaled?: boolean } }).preScale?.scaled;
    const slope = scaled ? 1 : (image.slope ?? 1);
    const intercept = scaled ? 0 : (image.intercept ?? 0);
    colourise(image.getPixelData(), slope, intercept, this.min, this.max, LUT, data.data);
    ctx.putImageData(data, 0, 0);
    this.bitmaps.set(key, off);
    return off;
  }

  async draw(): Promise<void> {
    // Called after every render of the viewport: with no map loaded there is nothing to do (clear() wiped it).
    if (!this.frames.length) return;
    const el = this.canvas;
    const dpr = window.devicePixelRatio || 1;
    const w = el.clientWidth;
    const h = el.clientHeight;
    if (el.width !== Math.round(w * dpr) || el.height !== Math.round(h * dpr)) {
      el.width = Math.round(w * dpr);
      el.height = Math.round(h * dpr);
    }
    const ctx = el.getContext('2d');
    if (!ctx) return;
    const currentId = this.viewport.getCurrentImageId();
    const shown = currentId ? planeOf(currentId) : undefined;
    const index = shown ? nearestSlice(shown.plane, this.frames.map((f) => f.plane), Math.max(2, 0.6 * (this.sliceGap() || 4))) : -1;
    if (index < 0) {
      ctx.setTransform(1, 0, 0, 1, 0, 0);
      ctx.clearRect(0, 0, el.width, el.height);
      return;
    }
    const frame = this.frames[index];
    const bmp = await this.bitmap(frame);
    // Where the overlay's pixel centres (0,0), (1,0), (0,1) fall in world space, then on the canvas.
    const { position: o, rowCosines: r, columnCosines: c } = frame.plane;
    const at = (i: number, j: number): Vec3 => [
      o[0] + r[0] * frame.columnSpacing * i + c[0] * frame.rowSpacing * j,
      o[1] + r[1] * frame.columnSpacing * i + c[1] * frame.rowSpacing * j,
      o[2] + r[2] * frame.columnSpacing * i + c[2] * frame.rowSpacing * j,
    ];
    const toCanvas = (p: Vec3): [number, number] => {
      const [x, y] = this.viewport.worldToCanvas(p);
      return [x * dpr, y * dpr];
    };
    const [a, b, cc, d, e, f] = affineFromCorners(toCanvas(at(0, 0)), toCanvas(at(1, 0)), toCanvas(at(0, 1)));
    ctx.setTransform(1, 0, 0, 1, 0, 0);
    ctx.clearRect(0, 0, el.width, el.height);
    ctx.globalAlpha = this.opacity;
    ctx.imageSmoothingEnabled = true;
    // Pixel (0,0)'s centre is the image origin, so the bitmap starts half a pixel up and left.
    ctx.setTransform(a, b, cc, d, e, f);
    ctx.drawImage(bmp, -0.5, -0.5);
    ctx.setTransform(1, 0, 0, 1, 0, 0);
    ctx.globalAlpha = 1;
  }

  private sliceGap(): number {
    if (this.frames.length < 2) return 0;
    const [p, q] = [this.frames[0].plane.position, this.frames[1].plane.position];
    return Math.hypot(p[0] - q[0], p[1] - q[1], p[2] - q[2]);
  }
}
