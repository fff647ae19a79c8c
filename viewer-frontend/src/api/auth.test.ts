import { describe, expect, it } from 'vitest';
import { LoginError, classifyLoginFailure, retryAfterSeconds } from './auth';
import { institutionTree, tokenStatus, type ApiToken } from './accounts';
import { formatWait, loginFailureText } from '../loginMessages';
import { translate } from '../i18n';

const en = (key: Parameters<typeof translate>[1], params?: Record<string, string | number>) => translate('en', key, params);

describe('login failures', () => {
  it('tells wrong credentials, a lockout and throttling apart', () => {
    expect(classifyLoginFailure(401, 'wrong username or password', {})).toBe('credentials');
    expect(classifyLoginFailure(423, 'x', {})).toBe('locked');
    expect(classifyLoginFailure(403, 'account locked until 12:00', {})).toBe('locked');
    expect(classifyLoginFailure(429, 'account is locked', {})).toBe('locked');
    expect(classifyLoginFailure(429, 'too many attempts', {})).toBe('throttled');
    expect(classifyLoginFailure(429, 'too many failed sign-ins for this account: try again in 5 minute(s)', {})).toBe('locked');
    expect(classifyLoginFailure(429, 'too many failed sign-ins for this client address: try again in 5 minute(s)', {})).toBe('throttled');
    expect(classifyLoginFailure(401, 'x', { reason: 'throttled' })).toBe('throttled');
    expect(classifyLoginFailure(422, 'password required', {})).toBe('invalid');
    expect(classifyLoginFailure(500, 'boom', {})).toBe('other');
  });

  it('reads the wait from Retry-After or the body', () => {
    const now = Date.parse('2026-01-01T12:00:00Z');
    expect(retryAfterSeconds('90', {}, now)).toBe(90);
    expect(retryAfterSeconds('Thu, 01 Jan 2026 12:01:00 GMT', {}, now)).toBe(60);
    expect(retryAfterSeconds(null, { retry_after: 12.2 }, now)).toBe(13);
    expect(retryAfterSeconds(null, { locked_until: '2026-01-01T12:05:00Z' }, now)).toBe(300);
    expect(retryAfterSeconds(null, {}, now)).toBeNull();
  });

  it('says how long to wait in words', () => {
    expect(formatWait(45, en)).toBe('45 s');
    expect(formatWait(250, en)).toBe('4 min 10 s');
    expect(formatWait(7500, en)).toBe('2 h 5 min');
    expect(translate('zh-CN', 'time.minutesSeconds', { minutes: 4, seconds: 10 })).toBe('4 分 10 秒');
    expect(loginFailureText(new LoginError('locked', '', 250, 423), en)).toContain('Try again in 4 min 10 s');
    expect(loginFailureText(new LoginError('locked', '', null, 423), en)).toContain('ask an administrator');
    expect(loginFailureText(new LoginError('other', 'server on fire', null, 500), en)).toBe('Sign-in failed: server on fire');
  });
});

describe('accounts', () => {
  it('orders institutions as a tree', () => {
    const tree = institutionTree([
      { id: 3, name: 'Township clinic', parent_id: 2 },
      { id: 1, name: 'Provincial hospital', parent_id: null },
      { id: 2, name: 'County hospital', parent_id: 1 },
      { id: 4, name: 'Another county', parent_id: 1 },
      { id: 5, name: 'Orphan', parent_id: 99 },
    ]);
    expect(tree.map((n) => [n.institution.name, n.depth])).toEqual([
      ['Orphan', 0],
      ['Provincial hospital', 0],
      ['Another county', 1],
      ['County hospital', 1],
      ['Township clinic', 2],
    ]);
  });

  it('tells a valid token from an expired or revoked one', () => {
    const now = Date.parse('2026-06-01T00:00:00Z');
    const token = { id: 1, name: 'x', prefix: 'cirrus_ab', scope: 'read', user_id: 1, username: 'a', created_at: '2026-01-01T00:00:00Z', expires_at: null, revoked_at: null, last_used_at: null } satisfies ApiToken;
    expect(tokenStatus(token, now)).toBe('valid');
    expect(tokenStatus({ ...token, expires_at: '2026-05-31T23:59:59Z' }, now)).toBe('expired');
    expect(tokenStatus({ ...token, expires_at: '2026-07-01T00:00:00Z', revoked_at: '2026-05-01T00:00:00Z' }, now)).toBe('revoked');
  });
});
