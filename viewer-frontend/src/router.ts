// A minimal history router: a handful of pages do not need more, and the server's SPA fallback serves any path.
import { reactive } from 'vue';

export type Page = 'studies' | 'viewer' | 'upload' | 'analysis' | 'reading' | 'report' | 'share';

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
  if (parts[0] === 'reading' && parts[1] && /^\d+$/.test(parts[1])) return { page: 'report', params: { requestId: parts[1] }, query };
  if (parts[0] === 'reading') return { page: 'reading', params: {}, query };
  return { page: 'studies', params: {}, query };
}

export const route = reactive<Route>(parseRoute('/', ''));

function sync(): void {
  Object.assign(route, parseRoute(location.pathname, location.search));
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
