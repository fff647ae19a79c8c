// A minimal history router: a handful of pages do not need more, and the server's SPA fallback serves any path.
import { reactive } from 'vue';

export type Page =
  | 'studies'
  | 'viewer'
  | 'upload'
  | 'analysis'
  | 'reading'
  | 'report'
  | 'print'
  | 'login'
  | 'users'
  | 'tokens'
  | 'presets'
  | 'institutions'
  | 'pull'
  | 'templates'
  | 'share';

/** Pages anyone may open without signing in. */
export const PUBLIC_PAGES: ReadonlySet<Page> = new Set<Page>(['login', 'share']);

export interface Route {
  page: Page;
  params: Record<string, string>;
  query: URLSearchParams;
}

export function parseRoute(pathname: string, search: string): Route {
  const query = new URLSearchParams(search);
  const parts = pathname.split('/').filter(Boolean).map(decodeURIComponent);
  if (parts[0] === 'viewer' && parts[1]) return { page: 'viewer', params: { studyUid: parts[1] }, query };
  // The patient's share page (`/s/{id}`): public, outside the archive's navigation.
  if (parts[0] === 's' && parts[1]) return { page: 'share', params: { shareId: parts[1] }, query };
  if (parts[0] === 'upload') return { page: 'upload', params: {}, query };
  if (parts[0] === 'analysis') return { page: 'analysis', params: {}, query };
  if (parts[0] === 'reading' && parts[1] && /^\d+$/.test(parts[1]) && parts[2] === 'print') return { page: 'print', params: { requestId: parts[1] }, query };
  if (parts[0] === 'reading' && parts[1] && /^\d+$/.test(parts[1])) return { page: 'report', params: { requestId: parts[1] }, query };
  if (parts[0] === 'reading') return { page: 'reading', params: {}, query };
  if (parts[0] === 'login') return { page: 'login', params: {}, query };
  if (parts[0] === 'admin' && parts[1] === 'users') return { page: 'users', params: {}, query };
  if (parts[0] === 'admin' && parts[1] === 'institutions') return { page: 'institutions', params: {}, query };
  if (parts[0] === 'admin' && parts[1] === 'pull') return { page: 'pull', params: {}, query };
  if (parts[0] === 'admin' && parts[1] === 'templates') return { page: 'templates', params: {}, query };
  if (parts[0] === 'tokens') return { page: 'tokens', params: {}, query };
  if (parts[0] === 'admin' && parts[1] === 'presets') return { page: 'presets', params: {}, query };
  return { page: 'studies', params: {}, query };
}

export const route = reactive<Route>(parseRoute('/', ''));

/** Where to go instead of `path` (pathname + search), or null to stay: the sign-in rule of the app. */
export type Guard = (target: Route, path: string) => string | null;
let guard: Guard | undefined;

export function setGuard(next: Guard | undefined): void {
  guard = next;
}

/** The login page's address, remembering where the user wanted to go. */
export function loginUrl(next: string): string {
  const target = safeNext(next);
  return target === '/' ? '/login' : `/login?next=${encodeURIComponent(target)}`;
}

/** A `next` parameter made safe to navigate to: a path of this app (never another origin, never the login page). */
export function safeNext(next: string | null | undefined): string {
  if (!next || !next.startsWith('/') || next.startsWith('//') || next.startsWith('/\\')) return '/';
  if (parseRoute(next.split('?')[0], '').page === 'login') return '/';
  return next;
}

/** The sign-in rule: signed-out users land on login (keeping the route), signed-in users skip it. */
export function signInRedirect(target: Route, path: string, signedIn: boolean): string | null {
  if (!signedIn && !PUBLIC_PAGES.has(target.page)) return loginUrl(path);
  if (signedIn && target.page === 'login') return safeNext(target.query.get('next'));
  return null;
}

function sync(): void {
  const path = location.pathname + location.search;
  const target = parseRoute(location.pathname, location.search);
  const redirect = guard?.(target, path);
  if (redirect && redirect !== path) {
    history.replaceState(null, '', redirect);
    Object.assign(route, parseRoute(location.pathname, location.search));
    return;
  }
  Object.assign(route, target);
}

/** Re-apply the guard to the current address (after signing in or out). */
export function recheckRoute(): void {
  sync();
}

export function startRouter(): void {
  sync();
  window.addEventListener('popstate', sync);
}

export function navigate(url: string, replace = false): void {
  if (replace) history.replaceState(null, '', url);
  else history.pushState(null, '', url);
  sync();
}

export function viewerUrl(studyUid: string, seriesUid?: string): string {
  return `/viewer/${encodeURIComponent(studyUid)}${seriesUid ? `?series=${encodeURIComponent(seriesUid)}` : ''}`;
}

export function reportUrl(requestId: number): string {
  return `/reading/${requestId}`;
}
