// The one way the app talks to the server (jobs API, QIDO-RS, WADO-RS bulk data, STOW-RS): every call
// goes through `request` (fetch) or `send` (XHR, for upload progress), and every failure is an ApiError
// with the HTTP status and the server's own message (its error bodies are {"error": message, "status": code}).
//
// Sessions: the browser signs in with a cookie (same origin, so fetch, XHR, <img>, EventSource and
// cornerstone's WADO-RS loader all send it). State-changing requests also carry the session's CSRF token
// (from the login / `GET /api/auth/me` answer) in `X-CSRF-Token`. A 401 means the session is gone: the
// app's handler (set with `onUnauthorized`) sends the user to the login page.

const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS']);
let csrfToken = '';
let unauthorized: ((url: string) => void) | undefined;

/** The CSRF token of the current session ('' when signed out). */
export function setCsrfToken(token: string): void {
  csrfToken = token;
}

/** Called on every 401 answer (except where a call opts out): the app goes to its login page. */
export function onUnauthorized(handler: ((url: string) => void) | undefined): void {
  unauthorized = handler;
}

/** The session headers a request of `method` needs: `X-CSRF-Token` on anything but GET/HEAD/OPTIONS. */
export function sessionHeaders(method: string): Record<string, string> {
  return csrfToken && !SAFE_METHODS.has(method.toUpperCase()) ? { 'X-CSRF-Token': csrfToken } : {};
}

function noticeUnauthorized(status: number, url: string, optOut: boolean | undefined): void {
  if (status === 401 && !optOut) unauthorized?.(url);
}

/** One refused value of a 400 answer: a code and its parameters (the UI words it), and the English text. */
export interface Problem {
  code: string;
  params: Record<string, string | number>;
  message: string;
}

export class ApiError extends Error {
  override readonly name = 'ApiError';

  constructor(
    /** HTTP status; 0 when no answer arrived (network error, aborted upload). */
    readonly status: number,
    message: string,
    readonly url: string,
    /** What the server refused, value by value (`problems` of its error body), when it says. */
    readonly problems: Problem[] = [],
  ) {
    super(message);
  }
}

/** The `problems` of an error body ([] when there are none or the body is not JSON). */
export function problemsOf(body: string, contentType: string): Problem[] {
  if (!contentType.includes('json')) return [];
  try {
    const parsed = JSON.parse(body) as { problems?: unknown };
    if (!Array.isArray(parsed?.problems)) return [];
    return parsed.problems.filter((p): p is Problem => typeof p?.code === 'string' && typeof p?.message === 'string').map((p) => ({ ...p, params: p.params ?? {} }));
  } catch {
    return [];
  }
}

export interface RequestOptions {
  method?: string;
  accept?: string;
  /** Sent as application/json. */
  json?: unknown;
  body?: BodyInit;
  headers?: Record<string, string>;
  signal?: AbortSignal;
  /** Statuses >= 400 that are answers rather than failures (STOW-RS 409 carries the store response). */
  expect?: number[];
  /** A 401 is an answer for this call (login, the session probe): do not send the user to the login page. */
  noLoginRedirect?: boolean;
}

/** The message of a failed answer: the server's `error` text, else the start of the body, else the status text. */
export function errorMessage(status: number, statusText: string, body: string, contentType: string): string {
  if (contentType.includes('json')) {
    try {
      const parsed = JSON.parse(body) as { error?: unknown };
      if (typeof parsed?.error === 'string' && parsed.error) return parsed.error;
    } catch {
      /* not JSON after all: fall through to the text */
    }
  }
  const text = body.trim().slice(0, 300);
  return text || statusText || `HTTP ${status}`;
}

async function failure(res: Response, url: string): Promise<ApiError> {
  let body = '';
  try {
    body = await res.text();
  } catch {
    /* the status is enough */
  }
  const type = res.headers.get('content-type') ?? '';
  return new ApiError(res.status, errorMessage(res.status, res.statusText, body, type), url, problemsOf(body, type));
}

/** fetch with the app's conventions; resolves only with a successful (or expected) answer. */
export async function request(url: string, options: RequestOptions = {}): Promise<Response> {
  const method = options.method ?? 'GET';
  const headers: Record<string, string> = { ...sessionHeaders(method), ...options.headers };
  if (options.accept) headers.Accept = options.accept;
  let body = options.body;
  if (options.json !== undefined) {
    headers['Content-Type'] = 'application/json';
    body = JSON.stringify(options.json);
  }
  let res: Response;
  try {
    res = await fetch(url, { method, headers, body, signal: options.signal, credentials: 'same-origin' });
  } catch (e) {
    if ((e as Error).name === 'AbortError') throw e;
    throw new ApiError(0, `network error (${(e as Error).message})`, url);
  }
  if (!res.ok && !options.expect?.includes(res.status)) {
    noticeUnauthorized(res.status, url, options.noLoginRedirect);
    throw await failure(res, url);
  }
  return res;
}

/** A JSON answer, or `empty` for 204 / an empty body. */
export async function requestJson<T>(url: string, options: RequestOptions & { empty?: T } = {}): Promise<T> {
  const res = await request(url, { accept: 'application/json', ...options });
  const text = res.status === 204 ? '' : await res.text();
  if (!text) {
    if ('empty' in options) return options.empty as T;
    throw new ApiError(res.status, 'the server sent an empty answer', url);
  }
  try {
    return JSON.parse(text) as T;
  } catch {
    throw new ApiError(res.status, 'the server sent an answer that is not JSON', url);
  }
}

export interface SendOptions {
  method?: string;
  headers?: Record<string, string>;
  expect?: number[];
  noLoginRedirect?: boolean;
  onUploadProgress?: (sentBytes: number, totalBytes: number) => void;
}

/** An upload with progress events (fetch has none for request bodies; XHR does); same answers and errors as `request`. */
export function send(url: string, body: Blob, options: SendOptions = {}): Promise<Response> {
  return new Promise((resolve, reject) => {
    const xhr = new XMLHttpRequest();
    const method = options.method ?? 'POST';
    xhr.open(method, url);
    for (const [name, value] of Object.entries({ ...sessionHeaders(method), ...options.headers })) xhr.setRequestHeader(name, value);
    xhr.upload.onprogress = (e) => options.onUploadProgress?.(e.loaded, e.total || body.size);
    xhr.onload = () => {
      const res = new Response(xhr.status === 204 ? null : xhr.responseText, {
        status: xhr.status,
        statusText: xhr.statusText,
        headers: { 'Content-Type': xhr.getResponseHeader('Content-Type') ?? '' },
      });
      if (res.ok || options.expect?.includes(res.status)) resolve(res);
      else {
        noticeUnauthorized(res.status, url, options.noLoginRedirect);
        failure(res, url).then(reject, reject);
      }
    };
    xhr.onerror = () => reject(new ApiError(0, 'network error', url));
    xhr.onabort = () => reject(new ApiError(0, 'upload aborted', url));
    xhr.send(body);
  });
}
