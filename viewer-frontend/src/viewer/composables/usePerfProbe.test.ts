import { describe, expect, it } from 'vitest';
import { usePerfProbe, type PerfProbe } from './usePerfProbe';

describe('usePerfProbe', () => {
  it('publishes the figures the e2e test and the bench read, and dates the first image once', () => {
    const host: { __cirrus?: PerfProbe } = {};
    let clock = 100;
    const probe = usePerfProbe(host, { viewport: () => 'vp', cachedImages: () => [1, 2], now: () => clock });
    expect(host.__cirrus).toBe(probe.probe);
    expect(host.__cirrus?.openedAt).toBe(100);
    clock = 150;
    probe.rendered(false); // an empty viewport painted: not an image yet
    clock = 230;
    probe.rendered(true);
    clock = 300;
    probe.rendered(true);
    probe.newImage();
    expect([host.__cirrus?.rendered, host.__cirrus?.firstImageAt, host.__cirrus?.newImages]).toEqual([3, 230, 1]);
    expect([host.__cirrus?.viewport(), host.__cirrus?.cachedImages()]).toEqual(['vp', [1, 2]]);
  });
});
