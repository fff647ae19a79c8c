import { describe, expect, it } from 'vitest';
import type { FrameRef } from '../../api/client';
import { useSeriesFrames } from './useSeriesFrames';

describe('useSeriesFrames', () => {
  it('fetches each series once and tries a failed one again', async () => {
    const asked: string[] = [];
    let fail = true;
    const { frames } = useSeriesFrames(async (uid): Promise<FrameRef[]> => {
      asked.push(uid);
      if (uid === 'b' && fail) throw new Error('503');
      return [{ sopUid: `${uid}.1`, frame: 1, meta: {} }];
    });
    const [a1, a2] = await Promise.all([frames('a'), frames('a')]);
    expect(a1).toBe(a2);
    await expect(frames('b')).rejects.toThrow('503');
    fail = false;
    expect((await frames('b'))[0].sopUid).toBe('b.1');
    expect(asked).toEqual(['a', 'b', 'b']);
  });
});
