// Parametric Map Storage (PS3.3 A.75): float or integer quantities per frame, shown as a colour stack.
import { SOP_CLASS } from '../sopClasses';
import { PERFUSION_COLORMAP } from '../fusion';
import type { SopClassHandler } from './registry';

export const parametricMapHandler: SopClassHandler = {
  id: 'parametric-map',
  sopClassUids: [SOP_CLASS.ParametricMapStorage],
  displaySet(frames) {
    return { kind: 'stack', handler: this.id, frames, colormap: PERFUSION_COLORMAP };
  },
};
