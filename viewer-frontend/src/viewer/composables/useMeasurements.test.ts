import { describe, expect, it } from 'vitest';
import { TAGS, type DicomJson } from '../../api/dicomJson';
import type { FrameRef } from '../../api/client';
import { useMeasurements, type MeasureRuntime } from './useMeasurements';
import type { AnnotationLike } from '../measurements';

// A stand-in for cornerstone's annotation state (world = image coordinates, z = 0); the DICOMweb answers
// are the DICOM JSON a server gives for the study's measurement series.
function fakeCornerstone() {
  const store: (AnnotationLike & { group?: string })[] = [];
  const rt: MeasureRuntime = {
    annotations: {
      all: () => store,
      add: (a, group) => store.push({ ...(a as AnnotationLike), group }),
      remove: (uid) => store.splice(store.findIndex((a) => a.annotationUID === uid), 1),
    },
    worldToImage: (_id, p) => [p[0], p[1]],
    imageToWorld: (_id, p) => [p[0], p[1], 0],
    plane: () => ({ frameOfReference: '1.9', normal: [0, 0, 1] }),
    render: () => undefined,
  };
  return { store, rt };
}
const v = (vr: string, ...values: unknown[]) => ({ vr, Value: values });
const frame = (sop: string): FrameRef => ({ sopUid: sop, frame: 1, meta: { [TAGS.Modality]: v('CS', 'CT'), [TAGS.SOPInstanceUID]: v('UI', sop) } as DicomJson });
const length = (uid: string, imageId: string): AnnotationLike => ({ annotationUID: uid, metadata: { toolName: 'Length', referencedImageId: imageId }, data: { handles: { points: [[1, 1, 0], [4, 5, 0]] }, cachedStats: { t: { length: 5, unit: 'mm' } } } });

describe('useMeasurements', () => {
  it('saves every measurement on a known image, and nothing else', async () => {
    const { store, rt } = fakeCornerstone();
    const posted: unknown[] = [];
    const m = useMeasurements({ studyUid: '1.2', runtime: () => rt, frames: async () => [], registerSeries: () => [], post: async (url, body) => {
      posted.push([url, body]);
      return { study_instance_uid: '1.2', series_instance_uid: '1.2.990', sop_instance_uid: '1.2.990.1', instance_number: 4, count: 1 };
    } });
    m.know('1.2.3', ['img-a', 'img-b'], [frame('1.2.3.1'), frame('1.2.3.2')]);
    store.push(length('u1', 'img-b'), length('u2', 'elsewhere'), { ...length('u3', 'img-a'), metadata: { toolName: 'Crosshairs', referencedImageId: 'img-a' } });
    m.changed();
    expect(m.entries.value.map((e) => [e.uid, e.index, e.text])).toEqual([['u1', 1, '5.00 mm']]);
    expect(m.status.value.key).toBe('unsaved');
    await m.save();
    expect(posted).toEqual([['/api/studies/1.2/measurements', { measurements: [expect.objectContaining({ tool: 'length', uid: 'u1', sop_instance_uid: '1.2.3.2', series_instance_uid: '1.2.3', points: [[1.5, 1.5], [4.5, 5.5]], values: { length: 5 }, units: { length: 'mm' } })] }]]);
    expect(m.status.value).toEqual({ key: 'saved', number: 4 });
    m.clearAll();
    expect(store.map((a) => a.annotationUID)).toEqual(['u2', 'u3']); // other tools and unknown images stay
    expect(m.entries.value).toEqual([]);
  });

  it('loads the newest report of the measurement series back onto its images (series registered on demand)', async () => {
    const { store, rt } = fakeCornerstone();
    const urls: string[] = [];
    const scoord = { [TAGS.ValueType]: v('CS', 'SCOORD'), [TAGS.ConceptNameCodeSequence]: v('SQ', { [TAGS.CodeValue]: v('SH', '111030') }), [TAGS.GraphicType]: v('CS', 'POLYLINE'), [TAGS.GraphicData]: v('FL', 1.5, 1.5, 4.5, 5.5),
      [TAGS.ContentSequence]: v('SQ', { [TAGS.ValueType]: v('CS', 'IMAGE'), [TAGS.ReferencedSOPSequence]: v('SQ', { [TAGS.ReferencedSOPInstanceUID]: v('UI', '1.2.3.2') }) }) };
    const group = { [TAGS.ValueType]: v('CS', 'CONTAINER'), [TAGS.ConceptNameCodeSequence]: v('SQ', { [TAGS.CodeValue]: v('SH', '125007') }), [TAGS.ContentSequence]: v('SQ',
      { [TAGS.ConceptNameCodeSequence]: v('SQ', { [TAGS.CodeValue]: v('SH', '112039') }), [TAGS.TextValue]: v('UT', 'Cornerstone3DTools@^0.1.0:Length') },
      { [TAGS.ConceptNameCodeSequence]: v('SQ', { [TAGS.CodeValue]: v('SH', '112040') }), [TAGS.UID]: v('UI', '1.2.77') }, scoord) };
    const answers: Record<string, DicomJson[]> = {
      instances: [
        { [TAGS.SeriesInstanceUID]: v('UI', '1.2.990'), [TAGS.SOPInstanceUID]: v('UI', 'old'), [TAGS.InstanceNumber]: v('IS', 1) },
        { [TAGS.SeriesInstanceUID]: v('UI', '1.2.990'), [TAGS.SOPInstanceUID]: v('UI', 'new'), [TAGS.InstanceNumber]: v('IS', 2) },
      ],
      metadata: [{ [TAGS.ConceptNameCodeSequence]: v('SQ', { [TAGS.CodeValue]: v('SH', '126000') }), [TAGS.ContentSequence]: v('SQ', group) }],
    };
    const registered: string[] = [];
    const m = useMeasurements({
      studyUid: '1.2', runtime: () => rt,
      frames: async (uid) => (uid === '1.2.3' ? [frame('1.2.3.1'), frame('1.2.3.2')] : []),
      registerSeries: (uid, frames) => {
        registered.push(uid);
        return frames.map((f) => `id-${f.sopUid}`);
      },
      getJson: async (url) => {
        urls.push(url);
        return url.includes('/metadata') ? answers.metadata : answers.instances;
      },
    });
    const series = [
      { [TAGS.SeriesInstanceUID]: v('UI', '1.2.3'), [TAGS.Modality]: v('CS', 'CT') },
      { [TAGS.SeriesInstanceUID]: v('UI', '1.2.990'), [TAGS.Modality]: v('CS', 'SR'), [TAGS.SeriesNumber]: v('IS', 990) },
      { [TAGS.SeriesInstanceUID]: v('UI', '1.2.500'), [TAGS.Modality]: v('CS', 'SR'), [TAGS.SeriesNumber]: v('IS', 500) },
    ] as DicomJson[];
    expect(await m.load(series)).toBe(1);
    expect(urls[urls.length - 1]).toBe('/dicom-web/studies/1.2/series/1.2.990/instances/new/metadata');
    expect(urls.some((u) => u.includes('1.2.500'))).toBe(false); // another SR (the analysis' regions) is not ours
    expect(registered).toEqual(['1.2.3']);
    expect(store).toHaveLength(1);
    expect(store[0]).toMatchObject({ annotationUID: '1.2.77', group: '1.9', metadata: { toolName: 'Length', referencedImageId: 'id-1.2.3.2', viewPlaneNormal: [0, 0, 1] }, data: { handles: { points: [[1, 1, 0], [4, 5, 0]] } } });
    expect(m.status.value).toEqual({ key: 'loaded', number: 2 });
  });
});
