// The browser session: sign in / out against the server's /api/auth routes and keep the signed-in user
// (and the session's CSRF token, which the HTTP layer adds to state-changing requests).
import { reactive } from 'vue';
import type { components } from './schema';
import { ApiError, errorMessage, request, requestJson, setCsrfToken } from './http';

export const AUTH = '/api/auth';

/** The signed-in user and the session's CSRF token, as `POST /api/auth/login` and `GET /api/auth/me` answer. */
export type AuthAnswer = components['schemas']['SignIn'];
export type SessionUser = AuthAnswer['user'];

/** Who is signed in; `checked` turns true once the server has been asked. */
export const session = reactive<{ user: SessionUser | null; checked: boolean }>({ user: null, checked: false });

function adopt(answer: AuthAnswer | null): SessionUser | null {
  session.user = answer?.user ?? null;
  session.checked = true;
  setCsrfToken(answer?.csrf_token ?? '');
  return session.user;
}

/** Forget the session locally (after a 401 or a logout). */
export function clearSession(): void {
  adopt(null);
}

/** Ask the server who we are: the user, or null when not signed in. */
export async function loadSession(): Promise<SessionUser | null> {
  try {
    return adopt(await requestJson<AuthAnswer>(`${AUTH}/me`, { noLoginRedirect: true }));
  } catch (e) {
    if (e instanceof ApiError && e.status === 401) return adopt(null);
    session.checked = true;
    throw e;
  }
}

export type LoginFailureKind = 'credentials' | 'locked' | 'throttled' | 'invalid' | 'other';

export class LoginError extends Error {
  override readonly name = 'LoginError';
  constructor(
    readonly kind: LoginFailureKind,
    message: string,
    /** Seconds until another attempt may succeed (locked / throttled), when the server says. */
    readonly retryAfter: number | null,
    readonly status: number,
  ) {
    super(message);
  }
}

/** Seconds from a Retry-After header (seconds or an HTTP date), or from the body's retry_after / locked_until. */
export function retryAfterSeconds(header: string | null, body: Record<string, unknown>, now = Date.now()): number | null {
  const fromDate = (text: string): number | null => {
    const at = Date.parse(text);
    return Number.isFinite(at) ? Math.max(0, Math.ceil((at - now) / 1000)) : null;
  };
  for (const key of ['retry_after', 'retry_after_seconds']) {
    const v = body[key];
    if (typeof v === 'number' && Number.isFinite(v)) return Math.max(0, Math.ceil(v));
  }
  if (typeof body.locked_until === 'string') {
    const s = fromDate(body.locked_until);
    if (s !== null) return s;
  }
  if (header) {
    const trimmed = header.trim();
    if (/^\d+$/.test(trimmed)) return Number(trimmed);
    return fromDate(trimmed);
  }
  return null;
}

/**
 * What a refused login means: wrong credentials (401); a locked account (423, or a 429 / 403 that names the
 * account or says "locked"); throttling of this client (any other 429). Cirrus answers 429 with Retry-After
 * and "too many failed sign-ins for this account" / "... for this client address".
 */
export function classifyLoginFailure(status: number, message: string, body: Record<string, unknown>): LoginFailureKind {
  const reason = typeof body.reason === 'string' ? body.reason : typeof body.code === 'string' ? body.code : '';
  const said = `${reason} ${message}`.toLowerCase();
  if (status === 423 || /\block/.test(said)) return 'locked';
  if (status === 429 && /\baccount\b/.test(said)) return 'locked';
  if (status === 429 || /throttl|too many/.test(said)) return 'throttled';
  if (status === 401 || status === 403) return 'credentials';
  if (status === 400 || status === 422) return 'invalid';
  return 'other';
}

/** Sign in; resolves with the user, or rejects with a LoginError saying why. */
export async function login(username: string, password: string): Promise<SessionUser> {
  const res = await request(`${AUTH}/login`, {
    method: 'POST',
    json: { username, password },
    accept: 'application/json',
    noLoginRedirect: true,
    expect: [400, 401, 403, 422, 423, 429],
  });
  const text = await res.text();
  if (res.ok) return adopt(JSON.parse(text) as AuthAnswer)!;
  let body: Record<string, unknown> = {};
  try {
    const parsed = JSON.parse(text) as unknown;
    if (parsed && typeof parsed === 'object') body = parsed as Record<string, unknown>;
  } catch {
    /* not JSON: the message is the text */
  }
  const message = errorMessage(res.status, res.statusText, text, res.headers.get('content-type') ?? '');
  throw new LoginError(
    classifyLoginFailure(res.status, message, body),
    message,
    retryAfterSeconds(res.headers.get('retry-after'), body),
    res.status,
  );
}

/** Sign out this browser, or (everywhere) every session of the user. */
export async function logout(everywhere = false): Promise<void> {
  try {
    await request(`${AUTH}/${everywhere ? 'logout-all' : 'logout'}`, { method: 'POST', noLoginRedirect: true, expect: [401] });
  } finally {
    clearSession();
  }
}

/** Roles that manage accounts: the whole system (admin) or one institution's users and tokens. */
export function isAdmin(user: SessionUser | null): boolean {
  return user?.role === 'admin';
}
export function managesUsers(user: SessionUser | null): boolean {
  return user?.role === 'admin' || user?.role === 'institution_admin';
}
