// The one way the app talks to the server (jobs API, QIDO-RS, WADO-RS bulk data, STOW-RS): every call
// goes through `request` (fetch) or `send` (XHR, for upload progress), and every failure is an ApiError
// with the HTTP status and the server's own message (its error bodies are {"error": message, "status": code}).

export class ApiError extends Error {
  override readonly name = 'ApiError';

  constructor(
    /** HTTP status; 0 when no answer arrived (network error, aborted upload). */
    readonly status: number,
    message: string,
    readonly url: string,
  ) {
    super(message);
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
  return new ApiError(res.status, errorMessage(res.status, res.statusText, body, res.headers.get('content-type') ?? ''), url);
}

/** fetch with the app's conventions; resolves only with a successful (or expected) answer. */
export async function request(url: string, options: RequestOptions = {}): Promise<Response> {
  const headers: Record<string, string> = { ...options.headers };
  if (options.accept) headers.Accept = options.accept;
  let body = options.body;
  if (options.json !== undefined) {
    headers['Content-Type'] = 'application/json';
    body = JSON.stringify(options.json);
  }
  let res: Response;
  try {
    res = await fetch(url, { method: options.method ?? 'GET', headers, body, signal: options.signal });
  } catch (e) {
    if ((e as Error).name === 'AbortError') throw e;
    throw new ApiError(0, `network error (${(e as Error).message})`, url);
  }
  if (!res.ok && !options.expect?.includes(res.status)) throw await failure(res, url);
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
  onUploadProgress?: (sentBytes: number, totalBytes: number) => void;
}

/** An upload with progress events (fetch has none for request bodies; XHR does); same answers and errors as `request`. */
export function send(url: string, body: Blob, options: SendOptions = {}): Promise<Response> {
  return new Promise((resolve, reject) => {
    const xhr = new XMLHttpRequest();
    xhr.open(options.method ?? 'POST', url);
    for (const [name, value] of Object.entries(options.headers ?? {})) xhr.setRequestHeader(name, value);
    xhr.upload.onprogress = (e) => options.onUploadProgress?.(e.loaded, e.total || body.size);
    xhr.onload = () => {
      const res = new Response(xhr.status === 204 ? null : xhr.responseText, {
        status: xhr.status,
        statusText: xhr.statusText,
        headers: { 'Content-Type': xhr.getResponseHeader('Content-Type') ?? '' },
      });
      if (res.ok || options.expect?.includes(res.status)) resolve(res);
      else failure(res, url).then(reject, reject);
    };
    xhr.onerror = () => reject(new ApiError(0, 'network error', url));
    xhr.onabort = () => reject(new ApiError(0, 'upload aborted', url));
    xhr.send(body);
  });
}
