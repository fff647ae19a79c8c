// Each series' metadata, fetched once and ordered for display; shared by the viewports and the overlay.
import type { FrameRef } from '../../api/client';

export function useSeriesFrames(load: (seriesUid: string) => Promise<FrameRef[]>) {
  const cache = new Map<string, Promise<FrameRef[]>>();

  function frames(seriesUid: string): Promise<FrameRef[]> {
    let p = cache.get(seriesUid);
    if (!p) {
      p = load(seriesUid);
      cache.set(seriesUid, p);
      // A failed fetch is not kept: the next request tries again.
      p.catch(() => cache.delete(seriesUid));
    }
    return p;
  }

  return { frames };
}
