import { describe, expect, it } from 'vitest';
import { TAGS, type DicomJson } from '../api/dicomJson';
import { annotationUidOf, measurementsOfSr, newestReport, pixelUnit, summary, toMeasurement, type AnnotationLike } from './measurements';

// World = image coordinates here (z = 0), so the conversions are visible in the numbers.
const toImage = (p: [number, number, number]): [number, number] => [p[0], p[1]];
const image = { seriesUid: '1.2.3', sopUid: '1.2.3.4', frame: 1 };

function ann(toolName: string, points: number[][], stats: Record<string, unknown> = {}, extra: Partial<AnnotationLike['data']> = {}): AnnotationLike {
  return { annotationUID: '0f8fad5b-d9cb-469f-a165-70867728950e', metadata: { toolName, referencedImageId: 'wadors:x' }, data: { handles: { points }, cachedStats: { 'imageId:x': stats }, ...extra } };
}

// DICOM JSON of SR content items, as highdicom writes them (and WADO-RS metadata serves them).
const T = TAGS;
const code = (value: string, scheme = 'DCM', meaning = '') => ({ [T.CodeValue]: { vr: 'SH', Value: [value] }, [T.CodingSchemeDesignator]: { vr: 'SH', Value: [scheme] }, [T.CodeMeaning]: { vr: 'LO', Value: [meaning || value] } });
const named = (valueType: string, concept: string, rest: DicomJson = {}): DicomJson => ({ [T.ValueType]: { vr: 'CS', Value: [valueType] }, [T.ConceptNameCodeSequence]: { vr: 'SQ', Value: [code(concept)] }, ...rest });
const seq = (...children: DicomJson[]) => ({ [T.ContentSequence]: { vr: 'SQ', Value: children } });
function group(tracking: string, uid: string, graphicType: string, data: number[], numbers: [string, number][], label = ''): DicomJson {
  const region = named('SCOORD', '111030', {
    [T.GraphicType]: { vr: 'CS', Value: [graphicType] },
    [T.GraphicData]: { vr: 'FL', Value: data },
    ...seq(named('IMAGE', '121112', { [T.ReferencedSOPSequence]: { vr: 'SQ', Value: [{ [T.ReferencedSOPInstanceUID]: { vr: 'UI', Value: ['1.2.3.4'] } }] } })),
  });
  const unit = (c: string) => ({ '410668003': 'mm', '42798000': 'mm2' })[c] ?? "[hnsf'U]";
  const nums = numbers.map(([c, v]) => named('NUM', c, { [T.MeasuredValueSequence]: { vr: 'SQ', Value: [{ [T.NumericValue]: { vr: 'DS', Value: [v] }, [T.MeasurementUnitsCodeSequence]: { vr: 'SQ', Value: [code(unit(c), 'UCUM')] } }] } }));
  const finding = label ? [named('CODE', '121071', { [T.ConceptCodeSequence]: { vr: 'SQ', Value: [code('label', '99CIRRUS', label)] } })] : [];
  return named('CONTAINER', '125007', seq(named('TEXT', '112039', { [T.TextValue]: { vr: 'UT', Value: [tracking] } }), named('UIDREF', '112040', { [T.UID]: { vr: 'UI', Value: [uid] } }), ...finding, region, ...nums));
}
const report = (...groups: DicomJson[]) => named('CONTAINER', '126000', seq(named('CONTAINER', '126010', seq(...groups))));

describe('measurements to the route', () => {
  it('a length: points shifted to DICOM pixel corners, its mm value', () => {
    const m = toMeasurement(ann('Length', [[10, 12, 0], [40, 52, 0]], { length: 50, unit: 'mm' }), image, toImage);
    expect(m).toEqual({ tool: 'length', uid: '0f8fad5b-d9cb-469f-a165-70867728950e', label: '', series_instance_uid: '1.2.3', sop_instance_uid: '1.2.3.4', frame: 1, points: [[10.5, 12.5], [40.5, 52.5]], values: { length: 50 }, units: { length: 'mm' } });
  });

  it('an ellipse: major axis first; statistics with the pixel unit; NaN left out', () => {
    // cornerstone: bottom, top, left, right — here the horizontal axis is the long one.
    const m = toMeasurement(ann('EllipticalROI', [[20, 30, 0], [20, 10, 0], [0, 20, 0], [40, 20, 0]], { area: 628, mean: 12.5, stdDev: 2, min: 0, max: NaN, modalityUnit: 'HU', areaUnit: 'mm²' }), image, toImage);
    expect(m?.points).toEqual([[0.5, 20.5], [40.5, 20.5], [20.5, 10.5], [20.5, 30.5]]);
    expect(m?.values).toEqual({ area: 628, mean: 12.5, sd: 2, min: 0 });
    expect(m?.units).toEqual({ area: 'mm2', mean: 'HU', sd: 'HU', min: 'HU' });
  });

  it('a rectangle goes round its corners; a freehand uses its contour; a probe its one point', () => {
    const rect = toMeasurement(ann('RectangleROI', [[0, 0, 0], [10, 0, 0], [0, 5, 0], [10, 5, 0]], { area: 50, areaUnit: 'px²' }), image, toImage);
    expect(rect?.points).toEqual([[0.5, 0.5], [10.5, 0.5], [10.5, 5.5], [0.5, 5.5]]);
    expect(rect?.units?.area).toBe('px2');
    const free = toMeasurement(ann('PlanarFreehandROI', [], { mean: 41, modalityUnit: 'ml/100g/min' }, { contour: { polyline: [[1, 1, 0], [5, 1, 0], [3, 4, 0]] } }), image, toImage);
    expect(free?.points).toHaveLength(3);
    expect(free?.units?.mean).toBe('ml/100g/min');
    expect(toMeasurement(ann('Probe', [[3, 4, 0]], { value: -1000, modalityUnit: 'HU' }), image, toImage)?.values).toEqual({ value: -1000 });
    // cornerstone names no unit for a CBF map's pixels: the image's own quantity does.
    const onMap = toMeasurement(ann('RectangleROI', [[0, 0, 0], [10, 0, 0], [0, 5, 0], [10, 5, 0]], { mean: 40, modalityUnit: 'raw' }), { ...image, unit: 'ml/100g/min' }, toImage);
    expect(onMap?.units?.mean).toBe('ml/100g/min');
  });

  it('other tools and annotations without an image are not measurements', () => {
    expect(toMeasurement(ann('Crosshairs', [[1, 1, 0]]), image, toImage)).toBeUndefined();
    expect(toMeasurement(ann('Length', [[1, 1, 0], [2, 2, 0]]), undefined, toImage)).toBeUndefined();
  });

  it('names the pixel units the route knows', () => {
    expect([pixelUnit('HU'), pixelUnit('ml/100g/min'), pixelUnit('ml/100 g/min'), pixelUnit('raw'), pixelUnit(undefined)]).toEqual(['HU', 'ml/100g/min', 'ml/100g/min', '', '']);
  });
});

describe('measurements from the SR', () => {
  const uuid = '0f8fad5b-d9cb-469f-a165-70867728950e';
  const tracking = `2.25.${BigInt(`0x${uuid.replace(/-/g, '')}`)}`;

  it('a tracking UID made from a UUID gives the UUID back; others stay as they are', () => {
    expect(annotationUidOf(tracking)).toBe(uuid);
    expect(annotationUidOf('1.2.840.99')).toBe('1.2.840.99');
  });

  it('reads every group back in cornerstone order with its numbers', () => {
    const sr = report(
      group('Cornerstone3DTools@^0.1.0:Length', tracking, 'POLYLINE', [10.5, 12.5, 40.5, 52.5], [['410668003', 50]], 'lesion'),
      group('Cornerstone3DTools@^0.1.0:EllipticalROI', '1.2.9', 'ELLIPSE', [0.5, 20.5, 40.5, 20.5, 20.5, 10.5, 20.5, 30.5], [['42798000', 628], ['373098007', 12.5], ['386136009', 2]]),
      group('Cornerstone3DTools@^0.1.0:RectangleROI', '1.2.10', 'POLYLINE', [0.5, 0.5, 10.5, 0.5, 10.5, 5.5, 0.5, 5.5, 0.5, 0.5], [['42798000', 50]]),
      group('Cornerstone3DTools@^0.1.0:Probe', '1.2.11', 'POINT', [3.5, 4.5], [['probe-value', -1000]]),
      group('Something else', '1.2.12', 'POINT', [3.5, 4.5], []),
    );
    const [length, ellipse, rect, probe, ...rest] = measurementsOfSr(sr);
    expect(rest).toEqual([]);
    expect(length).toEqual({ tool: 'length', uid: uuid, label: 'lesion', sopUid: '1.2.3.4', frame: 1, points: [[10, 12], [40, 52]], values: { length: 50 }, units: { length: 'mm' } });
    expect(ellipse.points).toEqual([[20, 30], [20, 10], [0, 20], [40, 20]]); // bottom, top, left, right
    expect(ellipse.values).toEqual({ area: 628, mean: 12.5, sd: 2 });
    expect(ellipse.units).toEqual({ area: 'mm2', mean: 'HU', sd: 'HU' });
    expect(rect.points).toEqual([[0, 0], [10, 0], [0, 5], [10, 5]]);
    expect(probe).toMatchObject({ tool: 'probe', points: [[3, 4]], values: { value: -1000 } });
  });

  it('a cleared report holds no measurement', () => {
    const cleared = report(named('CONTAINER', '125007', seq(named('TEXT', '112039', { [T.TextValue]: { vr: 'UT', Value: ['Cirrus: no measurements'] } }))));
    expect(measurementsOfSr(cleared)).toEqual([]);
  });

  it('the newest report is the highest instance number', () => {
    const inst = (n: number, time: string) => ({ [T.InstanceNumber]: { vr: 'IS', Value: [n] }, [T.ContentDate]: { vr: 'DA', Value: ['20261203'] }, [T.ContentTime]: { vr: 'TM', Value: [time] } });
    expect(newestReport([inst(1, '120000'), inst(3, '110000'), inst(2, '130000')])).toEqual(inst(3, '110000'));
    expect(newestReport([])).toBeUndefined();
  });

  it('summarises each tool in one line', () => {
    expect(summary({ tool: 'length', values: { length: 12.345 } })).toBe('12.35 mm');
    expect(summary({ tool: 'ellipse', values: { area: 100, mean: 40.04, sd: 2 } }, { mean: 'HU' })).toBe('100.0 mm² · 40.0 HU ± 2.0');
  });
});
