import { describe, expect, it } from 'vitest';
import { loginUrl, parseRoute, safeNext, signInRedirect, viewerUrl } from './router';

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
    expect(parseRoute('/reading/12/print', '')).toMatchObject({ page: 'print', params: { requestId: '12' } });
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

describe('sign-in guard', () => {
  const at = (path: string) => {
    const url = new URL(path, 'http://x');
    return parseRoute(url.pathname, url.search);
  };
  it('maps the account pages', () => {
    expect(['/login', '/tokens', '/admin/users', '/admin/institutions', '/admin/templates'].map((p) => at(p).page)).toEqual(['login', 'tokens', 'users', 'institutions', 'templates']);
  });
  it('sends signed-out users to login, keeping the route', () => {
    expect(signInRedirect(at('/viewer/1.2?series=3'), '/viewer/1.2?series=3', false)).toBe('/login?next=%2Fviewer%2F1.2%3Fseries%3D3');
    expect(signInRedirect(at('/'), '/', false)).toBe('/login');
    expect(signInRedirect(at('/login'), '/login', false)).toBeNull();
    expect(signInRedirect(at('/viewer/1.2'), '/viewer/1.2', true)).toBeNull();
  });
  it('sends signed-in users on from the login page to a safe next', () => {
    expect(signInRedirect(at('/login?next=%2Freading'), '/login?next=%2Freading', true)).toBe('/reading');
    expect(signInRedirect(at('/login?next=https%3A%2F%2Fevil.example'), '/login', true)).toBe('/');
    expect(safeNext('//evil.example/x')).toBe('/');
    expect(safeNext('/\\evil.example')).toBe('/');
    expect(safeNext('/login?next=/x')).toBe('/');
    expect(safeNext(null)).toBe('/');
    expect(loginUrl('/analysis?status=failed')).toBe('/login?next=%2Fanalysis%3Fstatus%3Dfailed');
  });
});
