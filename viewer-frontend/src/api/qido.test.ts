import { describe, expect, it } from 'vitest';
import { nameMatcher, studyQueryParams } from './qido';

describe('nameMatcher', () => {
  it('turns plain text into a prefix match and keeps explicit wildcards', () => {
    expect(nameMatcher(' doe ')).toBe('doe*');
    expect(nameMatcher('*oe^J?hn')).toBe('*oe^J?hn');
    expect(nameMatcher('')).toBe('');
  });
});

describe('studyQueryParams', () => {
  it('maps the form to QIDO attributes and asks one row more than a page', () => {
    const p = studyQueryParams({
      patientName: 'wang',
      patientId: 'P01',
      accession: ' A7 ',
      modality: 'MR',
      dates: { from: '20240101', to: '' },
      limit: 25,
      offset: 50,
    });
    expect(p.get('PatientName')).toBe('wang*');
    expect(p.get('PatientID')).toBe('P01');
    expect(p.get('AccessionNumber')).toBe('A7');
    expect(p.get('ModalitiesInStudy')).toBe('MR');
    expect(p.get('StudyDate')).toBe('20240101-');
    expect(p.get('limit')).toBe('26');
    expect(p.get('offset')).toBe('50');
    expect(p.get('includefield')).toContain('00081030');
  });
  it('leaves out empty criteria', () => {
    const p = studyQueryParams({ limit: 10, offset: 0, dates: { from: '', to: '' } });
    expect([...p.keys()].sort()).toEqual(['includefield', 'limit', 'offset']);
  });
});
