// Images of any SOP class with pixel data: one stack viewport; greyscale quantitative maps in colour.
import { isQuantitativeMap } from '../derived';
import { SOP_CLASS } from '../sopClasses';
import { PERFUSION_COLORMAP } from '../fusion';
import type { SopClassHandler } from './registry';

export const imageStackHandler: SopClassHandler = {
  id: 'image-stack',
  // Also the registry's fallback for every other image SOP class.
  sopClassUids: [SOP_CLASS.CTImageStorage, SOP_CLASS.MRImageStorage, SOP_CLASS.EnhancedCTImageStorage, SOP_CLASS.EnhancedMRImageStorage, SOP_CLASS.SecondaryCaptureImageStorage],
  displaySet(frames) {
    // Derived CBF/ATT images (ImageType, value mapping) read better in colour, as the report shows them.
    return { kind: 'stack', handler: this.id, frames, colormap: isQuantitativeMap(frames[0].meta) ? PERFUSION_COLORMAP : undefined };
  },
};
