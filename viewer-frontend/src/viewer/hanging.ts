// The ASL hanging protocol: an ASL study with results opens as a 2×2 grid — anatomy (M0 or the source
// series) | CBF map (perfusion palette) | CBF colour series | ATT map when there is one — with synced
// scrolling. Series are recognised by what they are (ImageType quantity, SOP class), never by their
// descriptions; results a re-run replaced are passed over, and of several the newest (highest number) wins.
import { codes, num, str, type DicomJson } from '../api/dicomJson';
import { quantityFromImageType } from './derived';
import { SOP_CLASS, STRUCTURED_REPORT_SOP_CLASSES } from './sopClasses';

export interface AslHanging {
  anatomy?: string;
  cbf: string;
  colour?: string;
  att?: string;
}

const COLOUR_CLASSES: readonly string[] = [SOP_CLASS.SecondaryCaptureImageStorage, '1.2.840.10008.5.1.4.1.1.7.4'];
const NOT_IMAGES: readonly string[] = [SOP_CLASS.EncapsulatedPDFStorage, ...STRUCTURED_REPORT_SOP_CLASSES, '1.2.840.10008.5.1.4.1.1.66.4'];

/**
 * The panes for an ASL study, or undefined when it has no CBF map. `sopClassOf` gives a series' SOP class
 * (from one instance: the series-level QIDO answer does not carry it).
 */
export function aslHanging(series: DicomJson[], sopClassOf: Map<string, string>, superseded: Set<string> = new Set()): AslHanging | undefined {
  const live = series
    .filter((s) => !superseded.has(str(s, 'SeriesInstanceUID')))
    .sort((a, b) => (num(b, 'SeriesNumber') ?? 0) - (num(a, 'SeriesNumber') ?? 0));
  const uid = (s: DicomJson | undefined) => (s ? str(s, 'SeriesInstanceUID') : undefined);
  const cls = (s: DicomJson) => sopClassOf.get(str(s, 'SeriesInstanceUID')) ?? '';
  const isColour = (s: DicomJson) => COLOUR_CLASSES.includes(cls(s));
  const map = (q: string) => live.find((s) => quantityFromImageType(s) === q && !isColour(s) && cls(s) !== SOP_CLASS.ParametricMapStorage);
  const cbf = map('CBF');
  if (!cbf) return undefined;
  const colour = live.find((s) => quantityFromImageType(s) === 'CBF' && isColour(s));
  const att = map('ATT');
  // Anatomy: an original MR series (M0 or the ASL source), the lowest series number first.
  const anatomy = [...live]
    .reverse()
    .find((s) => str(s, 'Modality') === 'MR' && codes(s, 'ImageType')[0] !== 'DERIVED' && !NOT_IMAGES.includes(cls(s)));
  return { anatomy: uid(anatomy), cbf: uid(cbf) as string, colour: uid(colour), att: uid(att) };
}

/** The series in pane order (missing roles left out); the grid takes them first, the rest after. */
export function hangingOrder(h: AslHanging): string[] {
  return [h.anatomy, h.cbf, h.colour, h.att].filter((u): u is string => !!u);
}

/** Modalities without pixels to show in a pane (reports, measurements, key objects). */
const DOCUMENTS = ['SR', 'KO', 'DOC', 'PR'];

/**
 * The series list with the protocol's series first, in pane order (the viewport grid fills slots in list
 * order), then the other image series, documents last (a spare pane shows an image, not a report).
 */
export function hungFirst(series: DicomJson[], order: string[]): DicomJson[] {
  const rank = (s: DicomJson) => {
    const k = order.indexOf(str(s, 'SeriesInstanceUID'));
    return k >= 0 ? k : order.length + (DOCUMENTS.includes(str(s, 'Modality')) ? 1 : 0);
  };
  return [...series].sort((a, b) => rank(a) - rank(b));
}
