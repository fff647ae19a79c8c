import { describe, expect, it } from 'vitest';
import { TAGS, type DicomJson } from '../api/dicomJson';
import { aslHanging, hangingOrder, hungFirst } from './hanging';
import { SOP_CLASS } from './sopClasses';

const s = (uid: string, number: number, modality: string, imageType: string[] = ['ORIGINAL', 'PRIMARY']): DicomJson => ({
  [TAGS.SeriesInstanceUID]: { vr: 'UI', Value: [uid] },
  [TAGS.SeriesNumber]: { vr: 'IS', Value: [number] },
  [TAGS.Modality]: { vr: 'CS', Value: [modality] },
  [TAGS.ImageType]: { vr: 'CS', Value: imageType },
});
const MR = SOP_CLASS.MRImageStorage;
const SC = SOP_CLASS.SecondaryCaptureImageStorage;
const PM = SOP_CLASS.ParametricMapStorage;

describe('the ASL hanging protocol', () => {
  const study = [
    s('t1', 2, 'MR'),
    s('asl', 5, 'MR'),
    s('cbf', 5010, 'MR', ['DERIVED', 'SECONDARY', 'CBF']),
    s('pm', 5011, 'MR', ['DERIVED', 'PRIMARY', 'CBF']),
    s('colour', 5012, 'OT', ['DERIVED', 'SECONDARY', 'CBF']),
    s('report', 5013, 'DOC'),
    s('sr', 990, 'SR'),
  ];
  const classes = new Map([['cbf', MR], ['pm', PM], ['colour', SC]]);

  it('anatomy | CBF map | colour series (no ATT: three panes)', () => {
    const h = aslHanging(study, classes);
    expect(h).toEqual({ anatomy: 't1', cbf: 'cbf', colour: 'colour', att: undefined });
    expect(hangingOrder(h!)).toEqual(['t1', 'cbf', 'colour']);
  });

  it('an ATT map takes the fourth pane; of two runs the newest, passing over superseded ones', () => {
    const rerun = [...study, s('att', 5014, 'MR', ['DERIVED', 'SECONDARY', 'ATT']), s('cbf2', 6010, 'MR', ['DERIVED', 'SECONDARY', 'CBF']), s('cbf3', 7010, 'MR', ['DERIVED', 'SECONDARY', 'CBF'])];
    const all = new Map([...classes, ['att', MR], ['cbf2', MR], ['cbf3', MR]]);
    expect(aslHanging(rerun, all, new Set(['cbf3']))).toEqual({ anatomy: 't1', cbf: 'cbf2', colour: 'colour', att: 'att' });
  });

  it('a study without a CBF map has no ASL layout', () => {
    expect(aslHanging([s('ct', 1, 'CT'), s('colour', 2, 'OT', ['DERIVED', 'SECONDARY', 'CBF'])], new Map([['colour', SC]]))).toBeUndefined();
  });

  it('puts the protocol series first, in pane order, then the other images, documents last', () => {
    const order = hungFirst([s('sr', 1, 'SR'), ...study], ['t1', 'cbf', 'colour']).map((x) => x[TAGS.SeriesInstanceUID].Value?.[0]);
    expect(order).toEqual(['t1', 'cbf', 'colour', 'asl', 'pm', 'sr', 'report', 'sr']);
  });
});
