import { describe, expect, it } from 'vitest';
import { parseRoute, viewerUrl } from './router';

describe('parseRoute', () => {
  it('maps paths to pages', () => {
    expect(parseRoute('/', '').page).toBe('studies');
    expect(parseRoute('/upload', '').page).toBe('upload');
    expect(parseRoute('/analysis', '?status=failed').query.get('status')).toBe('failed');
    const v = parseRoute('/viewer/1.2.3', '?series=4.5');
    expect(v.page).toBe('viewer');
    expect(v.params.studyUid).toBe('1.2.3');
    expect(v.query.get('series')).toBe('4.5');
    expect(parseRoute('/viewer', '').page).toBe('studies');
    expect(parseRoute('/reading', '?list=mine').page).toBe('reading');
    const r = parseRoute('/reading/12', '');
    expect([r.page, r.params.requestId]).toEqual(['report', '12']);
    expect(parseRoute('/reading/x', '').page).toBe('reading');
    const sh = parseRoute('/s/AbC-_9', '');
    expect([sh.page, sh.params.shareId]).toEqual(['share', 'AbC-_9']);
    expect(parseRoute('/s', '').page).toBe('studies');
  });
  it('round-trips a viewer url', () => {
    const url = new URL(viewerUrl('1.2.840.1', '9.8'), 'http://x');
    const r = parseRoute(url.pathname, url.search);
    expect([r.params.studyUid, r.query.get('series')]).toEqual(['1.2.840.1', '9.8']);
  });
});
