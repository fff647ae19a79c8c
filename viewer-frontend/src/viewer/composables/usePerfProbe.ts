// Timing and progress figures read by the e2e tests and bench/viewer_speed.mjs (window.__cirrus).

export interface PerfProbe {
  openedAt: number;
  firstImageAt: number;
  rendered: number;
  cpuRendering: boolean;
  newImages: number;
  viewport: (i?: number) => unknown;
  cachedImages: () => [number, number];
  /** cornerstone's tools module once loaded (annotation state, tool group), for the e2e tests. */
  tools?: unknown;
}

export function usePerfProbe(host: { __cirrus?: PerfProbe }, sources: { viewport: (i?: number) => unknown; cachedImages: () => [number, number]; now?: () => number }) {
  const now = sources.now ?? (() => performance.now());
  const probe: PerfProbe = (host.__cirrus = {
    openedAt: now(),
    firstImageAt: 0,
    rendered: 0,
    cpuRendering: false,
    newImages: 0,
    viewport: sources.viewport,
    cachedImages: sources.cachedImages,
  });

  return {
    probe,
    /** A viewport drew; `hasImages` when it shows a stack (the first such paint is the first image). */
    rendered(hasImages: boolean): void {
      probe.rendered += 1;
      if (!probe.firstImageAt && hasImages) probe.firstImageAt = now();
    },
    newImage(): void {
      probe.newImages += 1;
    },
  };
}
