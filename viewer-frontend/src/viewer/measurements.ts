// The viewer's measurements to and from the study's TID 1500 SR (server/measurements/report.py writes it).
// Pure: cornerstone annotations in, the route's JSON out; the SR's DICOM JSON in, points and numbers out.
// Coordinates: cornerstone's image coordinates put the centre of the top-left pixel at 0,0, DICOM's
// SCOORD puts its top-left corner there (PS3.3 C.18.6.1.1), hence the half pixel either way.
import type { components } from '../api/schema';
import { items, nums, str, type DicomJson } from '../api/dicomJson';

export type ViewerMeasurement = components['schemas']['ViewerMeasurement'];
export type MeasureTool = ViewerMeasurement['tool'];
type Values = NonNullable<ViewerMeasurement['values']>;
type Unit = NonNullable<NonNullable<ViewerMeasurement['units']>['mean']>;
type Point2 = [number, number];
type Point3 = [number, number, number];

/** Our tool keys ↔ cornerstone's tool names (the SR's tracking identifier carries the latter, as OHIF's do). */
export const CS_TOOL: Record<MeasureTool, string> = {
  length: 'Length',
  angle: 'Angle',
  ellipse: 'EllipticalROI',
  rectangle: 'RectangleROI',
  freehand: 'PlanarFreehandROI',
  probe: 'Probe',
};
export const MEASURE_TOOLS = Object.keys(CS_TOOL) as MeasureTool[];
const TOOL_OF: Record<string, MeasureTool> = Object.fromEntries(MEASURE_TOOLS.map((k) => [CS_TOOL[k], k]));
export const TRACKING_PREFIX = 'Cornerstone3DTools@^0.1.0:';
/** The SR series the server writes (server/measurements/report.py SERIES_NUMBER / SERIES_DESCRIPTION). */
export const SR_SERIES = { number: 990, description: 'Measurements' };
const MAX_POINTS = 2000;

/** The SNOMED CT concept codes of the numbers (as in report.py NAMES), and the probe's own. */
const VALUE_CODES: Record<string, keyof Values> = {
  '410668003': 'length',
  '1483009': 'angle',
  '42798000': 'area',
  '373098007': 'mean',
  '386136009': 'sd',
  '255605001': 'min',
  '56851009': 'max',
  'probe-value': 'value',
};

export interface AnnotationLike {
  annotationUID?: string;
  metadata: { toolName: string; referencedImageId?: string };
  data: {
    label?: string;
    handles?: { points?: number[][] };
    contour?: { polyline?: number[][] };
    cachedStats?: Record<string, Record<string, unknown> | undefined>;
  };
}

export interface ImageRef {
  seriesUid: string;
  sopUid: string;
  frame: number;
  /** The pixel unit the image's own attributes give (a CBF map: ml/100g/min), when cornerstone names none. */
  unit?: Unit;
}

export function toolOf(toolName: string): MeasureTool | undefined {
  return TOOL_OF[toolName];
}

/** The pixel unit cornerstone names (modalityUnit) as the route's unit. */
export function pixelUnit(unit: unknown): Unit {
  if (unit === 'ml/100g/min' || unit === 'HU' || unit === 's') return unit;
  const u = String(unit ?? '').trim();
  if (u === 'HU') return 'HU';
  if (/^ml\s*\/\s*100\s*g\s*\/\s*min$/i.test(u) || u === 'ml/(100.g.min)') return 'ml/100g/min';
  if (u === 's') return 's';
  return '';
}

const finite = (v: unknown): v is number => typeof v === 'number' && Number.isFinite(v);
const toDicom = ([x, y]: Point2): number[] => [x + 0.5, y + 0.5];
const fromDicom = ([x, y]: number[]): Point2 => [x - 0.5, y - 0.5];
const dist = (a: Point2, b: Point2): number => Math.hypot(a[0] - b[0], a[1] - b[1]);

/** Every k-th point so a long freehand contour stays within the route's limit. */
function thin<T>(points: T[], max = MAX_POINTS): T[] {
  if (points.length <= max) return points;
  const step = points.length / max;
  return Array.from({ length: max }, (_, i) => points[Math.floor(i * step)]);
}

/** The annotation's defining points in cornerstone image coordinates, in the SR's order per tool. */
function imagePoints(tool: MeasureTool, a: AnnotationLike, toImage: (p: Point3) => Point2): Point2[] | undefined {
  const world = tool === 'freehand' ? a.data.contour?.polyline : a.data.handles?.points;
  if (!world?.length) return undefined;
  const pts = (tool === 'freehand' ? thin(world) : world).map((p) => toImage(p as Point3));
  if (tool === 'ellipse' && pts.length === 4) {
    // cornerstone: [bottom, top, left, right]; DICOM ELLIPSE: the major axis' ends, then the minor axis'.
    const [bottom, top, left, right] = pts;
    return dist(top, bottom) >= dist(left, right) ? [top, bottom, left, right] : [left, right, top, bottom];
  }
  if (tool === 'rectangle' && pts.length === 4) {
    // cornerstone: [top-left, top-right, bottom-left, bottom-right]; a polygon goes round.
    const [tl, tr, bl, br] = pts;
    return [tl, tr, br, bl];
  }
  return pts;
}

/** The numbers cornerstone computed for the annotation (its first target's cached statistics). */
function valuesOf(tool: MeasureTool, a: AnnotationLike, fallback: Unit = ''): { values: Values; units: NonNullable<ViewerMeasurement['units']> } {
  const stats = Object.values(a.data.cachedStats ?? {}).find((s) => s && typeof s === 'object') ?? {};
  const values: Values = {};
  const units: NonNullable<ViewerMeasurement['units']> = {};
  const put = (name: keyof Values, v: unknown, unit: Unit) => {
    if (!finite(v)) return;
    values[name] = v;
    units[name] = unit;
  };
  if (tool === 'length') put('length', stats.length, String(stats.unit ?? 'mm') === 'mm' ? 'mm' : 'px');
  else if (tool === 'angle') put('angle', stats.angle, 'deg');
  else if (tool === 'probe') put('value', stats.value, pixelUnit(stats.modalityUnit) || fallback);
  else {
    put('area', stats.area, String(stats.areaUnit ?? 'mm²').includes('mm') ? 'mm2' : 'px2');
    const unit = pixelUnit(stats.modalityUnit) || fallback;
    put('mean', stats.mean, unit);
    put('sd', stats.stdDev, unit);
    put('min', stats.min, unit);
    put('max', stats.max, unit);
  }
  return { values, units };
}

/** One annotation as the route's measurement, or undefined (another tool, no image, no points). */
export function toMeasurement(a: AnnotationLike, image: ImageRef | undefined, toImage: (p: Point3) => Point2): ViewerMeasurement | undefined {
  const tool = toolOf(a.metadata.toolName);
  if (!tool || !image) return undefined;
  const pts = imagePoints(tool, a, toImage);
  if (!pts) return undefined;
  const { values, units } = valuesOf(tool, a, image.unit);
  return {
    tool,
    uid: a.annotationUID,
    label: (a.data.label ?? '').slice(0, 64),
    series_instance_uid: image.seriesUid,
    sop_instance_uid: image.sopUid,
    frame: image.frame,
    points: pts.map(toDicom),
    values,
    units,
  };
}

/** A measurement read from the SR: the tool, its image, its points in cornerstone image coordinates. */
export interface StoredMeasurement {
  tool: MeasureTool;
  uid: string;
  label: string;
  sopUid: string;
  frame: number;
  points: Point2[];
  values: Values;
  units: NonNullable<ViewerMeasurement['units']>;
}

/** UCUM codes of the SR (report.py UNITS) → the route's unit names. */
const FROM_UCUM: Record<string, Unit> = { mm: 'mm', mm2: 'mm2', deg: 'deg', "[hnsf'U]": 'HU', 'ml/100g/min': 'ml/100g/min', s: 's', '{pixel}': 'px', '{pixel}2': 'px2', '1': '' };

/** The annotation UID for a tracking UID: a 2.25 UID is a UUID (the server made it from ours), else as is. */
export function annotationUidOf(trackingUid: string): string {
  const m = /^2\.25\.(\d+)$/.exec(trackingUid);
  if (!m) return trackingUid;
  const hex = BigInt(m[1]).toString(16).padStart(32, '0');
  if (hex.length !== 32) return trackingUid;
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

const concept = (item: DicomJson): string => str(items(item, 'ConceptNameCodeSequence')[0], 'CodeValue');

/** Back to cornerstone's point order (the inverse of imagePoints). */
function cornerstoneOrder(tool: MeasureTool, pts: Point2[]): Point2[] {
  if ((tool === 'rectangle' || tool === 'freehand') && pts.length > 1) {
    const [a, b] = [pts[0], pts[pts.length - 1]];
    if (a[0] === b[0] && a[1] === b[1]) pts = pts.slice(0, -1); // the closing point
  }
  if (tool === 'rectangle' && pts.length === 4) {
    const [tl, tr, br, bl] = pts;
    return [tl, tr, bl, br];
  }
  if (tool === 'ellipse' && pts.length === 4) {
    const pairs: [Point2, Point2][] = [[pts[0], pts[1]], [pts[2], pts[3]]];
    const tall = (p: [Point2, Point2]) => Math.abs(p[0][1] - p[1][1]);
    const [vertical, horizontal] = tall(pairs[0]) >= tall(pairs[1]) ? pairs : [pairs[1], pairs[0]];
    const [top, bottom] = vertical[0][1] <= vertical[1][1] ? vertical : [vertical[1], vertical[0]];
    const [left, right] = horizontal[0][0] <= horizontal[1][0] ? horizontal : [horizontal[1], horizontal[0]];
    return [bottom, top, left, right];
  }
  return pts;
}

/** The measurement groups of a TID 1500 SR (its DICOM JSON, as WADO-RS metadata gives it). */
export function measurementsOfSr(sr: DicomJson): StoredMeasurement[] {
  const out: StoredMeasurement[] = [];
  const walk = (node: DicomJson): void => {
    const children = items(node, 'ContentSequence');
    if (concept(node) === '125007') {
      // A measurement group (DCM 125007): tracking identifier and UID, image region, numbers.
      let tool: MeasureTool | undefined;
      let uid = '';
      let label = '';
      let region: DicomJson | undefined;
      const values: Values = {};
      const units: NonNullable<ViewerMeasurement['units']> = {};
      for (const c of children) {
        const code = concept(c);
        if (code === '112039') tool = toolOf(str(c, 'TextValue').replace(TRACKING_PREFIX, ''));
        else if (code === '112040') uid = str(c, 'UID');
        else if (code === '121071') label = str(items(c, 'ConceptCodeSequence')[0], 'CodeMeaning');
        else if (code === '111030' && str(c, 'ValueType') === 'SCOORD') region = c;
        else if (str(c, 'ValueType') === 'NUM' && VALUE_CODES[code]) {
          const measured = items(c, 'MeasuredValueSequence')[0];
          const v = Number(str(measured, 'NumericValue'));
          const unit = FROM_UCUM[str(items(measured, 'MeasurementUnitsCodeSequence')[0], 'CodeValue')];
          if (Number.isFinite(v)) values[VALUE_CODES[code]] = v;
          if (Number.isFinite(v) && unit !== undefined) units[VALUE_CODES[code]] = unit;
        }
      }
      const image = region && items(region, 'ContentSequence').find((c) => str(c, 'ValueType') === 'IMAGE');
      const ref = image && items(image, 'ReferencedSOPSequence')[0];
      const data = region ? nums(region, 'GraphicData') : [];
      if (tool && ref && data.length >= 2) {
        const pts: Point2[] = [];
        for (let i = 0; i + 1 < data.length; i += 2) pts.push(fromDicom([data[i], data[i + 1]]));
        out.push({
          tool,
          uid: annotationUidOf(uid),
          label,
          sopUid: str(ref, 'ReferencedSOPInstanceUID'),
          frame: nums(ref, 'ReferencedFrameNumber')[0] ?? 1,
          points: cornerstoneOrder(tool, pts),
          values,
          units,
        });
      }
      return;
    }
    children.forEach(walk);
  };
  walk(sr);
  return out;
}

/** The current report among the measurement series' instances: the highest Instance Number, then the latest content time. */
export function newestReport(instances: DicomJson[]): DicomJson | undefined {
  const key = (d: DicomJson) => [Number(str(d, 'InstanceNumber')) || 0, `${str(d, 'ContentDate')}${str(d, 'ContentTime')}`] as const;
  return [...instances].sort((a, b) => {
    const [na, ta] = key(a);
    const [nb, tb] = key(b);
    return nb - na || tb.localeCompare(ta);
  })[0];
}

/** One line of the measurement list: the tool's number with its unit. */
export function summary(m: { tool: MeasureTool; values: Values }, units: Partial<Record<keyof Values, string>> = {}): string {
  const f = (v: number | undefined, digits = 1) => (v === undefined ? '–' : v.toFixed(digits));
  const u = (name: keyof Values, fallback: string) => {
    const unit = units[name] ?? fallback;
    const shown = ({ mm2: 'mm²', px2: 'px²' } as Record<string, string>)[unit] ?? unit;
    return shown ? ` ${shown}` : '';
  };
  const v = m.values;
  switch (m.tool) {
    case 'length':
      return `${f(v.length, 2)}${u('length', 'mm')}`;
    case 'angle':
      return `${f(v.angle)}°`;
    case 'probe':
      return `${f(v.value)}${u('value', '')}`;
    default:
      return `${f(v.area)}${u('area', 'mm²')} · ${f(v.mean)}${u('mean', '')} ± ${f(v.sd)}`;
  }
}
