import { describe, expect, it } from 'vitest';
import { useCamera, type CameraViewport } from './useCamera';
import { FakeViewport, element } from './testFakes';

describe('useCamera', () => {
  it('rotates in quarter turns, flips, and resets camera and properties', () => {
    const vp = new FakeViewport(element());
    const camera = useCamera(() => vp as unknown as CameraViewport);
    for (let k = 0; k < 5; k += 1) camera.rotate();
    expect(vp.presentation.rotation).toBe(90);
    camera.flipH();
    camera.flipV();
    camera.flipV();
    expect(vp.camera).toEqual({ flipHorizontal: true, flipVertical: false });
    vp.properties.invert = true;
    camera.reset();
    expect([vp.camera.flipHorizontal, vp.presentation.rotation, vp.properties]).toEqual([false, 0, {}]);
    expect(vp.calls.filter((c) => c[0] === 'render')).toHaveLength(9);
  });

  it('does nothing without a viewport', () => {
    const camera = useCamera(() => undefined);
    expect(() => camera.rotate()).not.toThrow();
  });
});
