import { describe, expect, it } from 'vitest';
import type { JobDetail } from './jobs';
import { headerPrefill, startsOnSave } from './paramsDialog';

const schema = { vendor: { label: 'vendor', kind: 'choice', choices: ['GE', 'Philips', 'Siemens', 'generic'] } } as unknown as JobDetail['parameter_schema'];

describe('parameters dialog rules', () => {
  it('says saving starts the analysis only when every missing value is given and no series is missing', () => {
    expect(startsOnSave({ missing: ['pld', 'labeling_duration'] }, { pld: '1800', labeling_duration: '' }, [])).toBe(false);
    expect(startsOnSave({ missing: ['pld', 'labeling_duration'] }, { pld: '1800', labeling_duration: ' 1800 ' }, [])).toBe(true);
    expect(startsOnSave({ missing: [] }, {}, [])).toBe(true);
    expect(startsOnSave({ missing: ['m0'] }, {}, ['m0'])).toBe(false);
  });
  it('prefills the detected vendor with its source, never over a value and never outside the choices', () => {
    expect(headerPrefill({ vendor: 'GE', parameter_schema: schema }, {})).toEqual([{ name: 'vendor', value: 'GE', source: 'Manufacturer' }]);
    expect(headerPrefill({ vendor: 'GE', parameter_schema: schema }, { vendor: 'Philips' })).toEqual([]);
    expect(headerPrefill({ vendor: 'Canon', parameter_schema: schema }, {})).toEqual([]);
    expect(headerPrefill({ vendor: 'GE', parameter_schema: {} as JobDetail['parameter_schema'] }, {})).toEqual([]);
  });
});
