// Stand-ins for cornerstone's engine, viewports and tool group in the composables' unit tests: they
// record what the composables ask of cornerstone (our own code is never replaced).
import type { ViewportRuntime } from './useViewports';
import type { FrameRef } from '../../api/client';

export class FakeViewport {
  readonly calls: [string, ...unknown[]][] = [];
  properties: Record<string, unknown> = {};
  imageIds: string[] = [];
  index = 0;
  camera = { flipHorizontal: false, flipVertical: false };
  presentation = { rotation: 0 };
  constructor(readonly element: HTMLDivElement) {}
  async setStack(ids: string[], index = 0): Promise<string> {
    this.calls.push(['setStack', ids, index]);
    this.imageIds = ids;
    this.index = index;
    return ids[index];
  }
  setProperties(p: Record<string, unknown>): void {
    this.calls.push(['setProperties', p]);
    Object.assign(this.properties, p);
  }
  getProperties(): Record<string, unknown> {
    return this.properties;
  }
  resetProperties(): void {
    this.calls.push(['resetProperties']);
    this.properties = {};
  }
  resetCamera(): void {
    this.calls.push(['resetCamera']);
    this.camera = { flipHorizontal: false, flipVertical: false };
    this.presentation = { rotation: 0 };
  }
  getCamera() {
    return this.camera;
  }
  setCamera(c: Partial<FakeViewport['camera']>): void {
    Object.assign(this.camera, c);
  }
  getViewPresentation() {
    return this.presentation;
  }
  setViewPresentation(p: { rotation: number }): void {
    this.presentation = { ...this.presentation, ...p };
  }
  render(): void {
    this.calls.push(['render']);
  }
  getImageIds(): string[] {
    return this.imageIds;
  }
  getCurrentImageIdIndex(): number {
    return this.index;
  }
  async setImageIdIndex(i: number): Promise<string> {
    this.calls.push(['setImageIdIndex', i]);
    this.index = i;
    return this.imageIds[i];
  }
}

export function element(): HTMLDivElement {
  return new EventTarget() as unknown as HTMLDivElement;
}

export function fakeRuntime() {
  const viewports = new Map<string, FakeViewport>();
  const log: string[] = [];
  const prefetched: [string[], number][] = [];
  const runtime: ViewportRuntime = {
    engine: {
      id: 'engine',
      getViewport: (id) => viewports.get(id),
      enableElement: ({ viewportId, element: el }) => {
        log.push(`enable ${viewportId}`);
        viewports.set(viewportId, new FakeViewport(el));
      },
      disableElement: (id) => {
        log.push(`disable ${id}`);
        viewports.delete(id);
      },
      resize: () => log.push('resize'),
    },
    group: {
      addViewport: (id) => log.push(`group+ ${id}`),
      removeViewports: (_engine, id) => log.push(`group- ${id}`),
    },
    stackType: 'stack' as ViewportRuntime['stackType'],
    events: { newImage: 'NEW_IMAGE', rendered: 'RENDERED', voiModified: 'VOI' },
    registerSeries: (seriesUid: string, frames: FrameRef[]) => frames.map((f) => `wadors:${seriesUid}/${f.sopUid}/${f.frame}`),
    prefetch: (ids, from) => prefetched.push([ids, from]),
  };
  return { runtime, viewports, log, prefetched };
}
