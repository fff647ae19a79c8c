import { describe, expect, it } from 'vitest';
import { whyQuery } from './pull';

describe('whyQuery', () => {
  it('asks by StudyInstanceUID for a UID and by accession number otherwise', () => {
    expect(whyQuery(' 1.2.840.113619.2.5 ')).toBe('study=1.2.840.113619.2.5');
    expect(whyQuery('ACC123')).toBe('accession=ACC123');
    expect(whyQuery('20240101')).toBe('accession=20240101');
  });
});
