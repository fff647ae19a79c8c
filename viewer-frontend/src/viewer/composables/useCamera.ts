// Orientation of the active viewport: rotate, flip, and reset (camera and display properties).
import type { Types } from '@cornerstonejs/core';

export type CameraViewport = Pick<
  Types.IStackViewport,
  'getViewPresentation' | 'setViewPresentation' | 'getCamera' | 'setCamera' | 'resetCamera' | 'resetProperties' | 'render'
>;

export function useCamera(viewport: () => CameraViewport | undefined) {
  function withActive(fn: (vp: CameraViewport) => void): void {
    const vp = viewport();
    if (!vp) return;
    fn(vp);
    vp.render();
  }

  return {
    rotate: () => withActive((vp) => vp.setViewPresentation({ rotation: ((vp.getViewPresentation().rotation ?? 0) + 90) % 360 })),
    flipH: () => withActive((vp) => vp.setCamera({ flipHorizontal: !vp.getCamera().flipHorizontal })),
    flipV: () => withActive((vp) => vp.setCamera({ flipVertical: !vp.getCamera().flipVertical })),
    reset: () =>
      withActive((vp) => {
        vp.resetCamera();
        vp.resetProperties();
      }),
  };
}
