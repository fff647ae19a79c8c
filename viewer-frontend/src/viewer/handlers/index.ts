// The viewer's registry of SOP-class handlers. A new family (e.g. SR rendering, segmentations) is one
// module and one `register` line here.
import { HandlerRegistry } from './registry';
import { imageStackHandler } from './imageStack';
import { parametricMapHandler } from './parametricMap';
import { encapsulatedPdfHandler } from './encapsulatedPdf';
import { structuredReportHandler, unknownObjectHandler } from './structuredReport';

export function defaultRegistry(): HandlerRegistry {
  return new HandlerRegistry(imageStackHandler, unknownObjectHandler)
    .register(imageStackHandler)
    .register(parametricMapHandler)
    .register(encapsulatedPdfHandler)
    .register(structuredReportHandler);
}

export type { DisplaySet, SopClassHandler } from './registry';
export { documentUrl } from './encapsulatedPdf';
