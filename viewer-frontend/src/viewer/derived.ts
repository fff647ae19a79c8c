// Recognising derived objects by what they are, never by their SeriesDescription text:
//  - the SOP Class (Parametric Map Storage),
//  - ImageType DERIVED with the quantity as value 3 (PS3.3 C.7.6.1.1.2: "implementation specific"; the
//    Cirrus CBF/ATT MR series write DERIVED\SECONDARY\CBF and DERIVED\SECONDARY\ATT),
//  - the Real World Value Mapping's units (PS3.3 C.7.6.16.2.11; UCUM ml/(100.g.min) is perfusion) and LUT label.
import { codes, items, str, type DicomJson } from '../api/dicomJson';
import { SOP_CLASS } from './sopClasses';

// ASL: CBF, ATT. DCE-MRI (Cirrus writes DERIVED\SECONDARY\KTRANS and Parametric Maps labelled KTRANS, ...):
// Ktrans and kep (1/min), ve and vp (fractions).
export type Quantity = 'CBF' | 'ATT' | 'KTRANS' | 'VE' | 'KEP' | 'VP';
const QUANTITIES: readonly Quantity[] = ['CBF', 'ATT', 'KTRANS', 'VE', 'KEP', 'VP'];
/** UCUM units that name the quantity on their own (seconds do not: many maps are in seconds). */
const UNIT_QUANTITY: Record<string, Quantity> = { 'ml/(100.g.min)': 'CBF' };

function isQuantity(value: string): value is Quantity {
  return (QUANTITIES as readonly string[]).includes(value);
}

/** The mapping items of a dataset: top level (MR/CT images) or shared functional groups (Parametric Map). */
function mappings(meta: DicomJson): DicomJson[] {
  const shared = items(meta, 'SharedFunctionalGroupsSequence').flatMap((g) => items(g, 'RealWorldValueMappingSequence'));
  return [...items(meta, 'RealWorldValueMappingSequence'), ...shared];
}

function fromMapping(mapping: DicomJson): Quantity | undefined {
  for (const unit of items(mapping, 'MeasurementUnitsCodeSequence')) {
    if (str(unit, 'CodingSchemeDesignator') === 'UCUM' && UNIT_QUANTITY[str(unit, 'CodeValue')]) return UNIT_QUANTITY[str(unit, 'CodeValue')];
  }
  const label = str(mapping, 'LUTLabel').trim().toUpperCase();
  return isQuantity(label) ? label : undefined;
}

/** The ImageType says DERIVED and names a quantity (value 3 onwards). Works on series-level QIDO answers too. */
export function quantityFromImageType(ds: DicomJson | undefined): Quantity | undefined {
  const values = codes(ds, 'ImageType');
  if (values[0] !== 'DERIVED') return undefined;
  return values.slice(2).find(isQuantity);
}

/** What quantity an instance's pixels hold (CBF, ATT), from its SOP class, ImageType and value mapping. */
export function quantityOf(meta: DicomJson | undefined): Quantity | undefined {
  if (!meta) return undefined;
  const fromType = quantityFromImageType(meta);
  if (fromType) return fromType;
  for (const mapping of mappings(meta)) {
    const q = fromMapping(mapping);
    if (q) return q;
  }
  if (str(meta, 'SOPClassUID') === SOP_CLASS.ParametricMapStorage) {
    const label = str(meta, 'ContentLabel').trim().toUpperCase();
    if (isQuantity(label)) return label;
  }
  return undefined;
}

/** A greyscale quantitative map (a Parametric Map, or a derived image holding CBF/ATT) — shown in colour. */
export function isQuantitativeMap(meta: DicomJson | undefined): boolean {
  if (!meta || !str(meta, 'PhotometricInterpretation').startsWith('MONOCHROME')) return false;
  return str(meta, 'SOPClassUID') === SOP_CLASS.ParametricMapStorage || quantityOf(meta) !== undefined;
}

/** Series-level modalities that never hold pixel maps (documents, reports, segmentations, presentation states). */
const NON_IMAGE_MODALITIES = new Set(['DOC', 'SR', 'KO', 'PR', 'SEG', 'REG', 'RWV', 'PLAN']);

/** Whether a series could be a map, from its series-level QIDO attributes (to skip asking about the rest). */
export function mayBeMap(series: DicomJson): boolean {
  return !NON_IMAGE_MODALITIES.has(str(series, 'Modality'));
}

/**
 * The quantity of a series that can be overlaid, from one of its instances (QIDO instance-level:
 * SOP Class UID and ImageType): a Parametric Map, or a greyscale derived image holding CBF/ATT.
 * Not the colour Secondary Capture (its pixels are RGB pictures with a burned-in scale), not a
 * document, not the raw series.
 */
export function overlayQuantity(instance: DicomJson | undefined): Quantity | undefined {
  if (!instance) return undefined;
  const sopClass = str(instance, 'SOPClassUID');
  if (sopClass === SOP_CLASS.ParametricMapStorage) return quantityOf(instance) ?? 'CBF';
  const greyscaleImage: string[] = [SOP_CLASS.MRImageStorage, SOP_CLASS.EnhancedMRImageStorage, SOP_CLASS.CTImageStorage, SOP_CLASS.EnhancedCTImageStorage];
  if (!greyscaleImage.includes(sopClass)) return undefined;
  return quantityFromImageType(instance);
}

/** The overlay choices: the series that are real maps, CBF (or Ktrans) first; stable otherwise. */
export function overlayChoices(series: DicomJson[], quantities: Map<string, Quantity | undefined>): DicomJson[] {
  const maps = series.filter((s) => quantities.get(str(s, 'SeriesInstanceUID')));
  return overlayOrder(maps, quantities);
}

/** Series first that hold CBF (the overlay's usual quantity); stable otherwise. */
export function overlayOrder(series: DicomJson[], quantities?: Map<string, Quantity | undefined>): DicomJson[] {
  const q = (s: DicomJson) => quantities?.get(str(s, 'SeriesInstanceUID')) ?? quantityFromImageType(s);
  const rank = (s: DicomJson) => (q(s) === 'CBF' || q(s) === 'KTRANS' ? 0 : 1);
  return [...series].sort((a, b) => rank(a) - rank(b));
}

/** A Siemens mosaic: one image holding every slice as tiles; its position is the mosaic's corner, not a slice's. */
export function isMosaic(meta: DicomJson | undefined): boolean {
  return codes(meta, 'ImageType').includes('MOSAIC');
}
