/// <reference types="node" />
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ApiError, errorMessage, onUnauthorized, request, requestJson, sessionHeaders, setCsrfToken } from './http';

// A real HTTP server answering the way Cirrus does ({"error": ..., "status": ...} on failures).
let server: Server;
let base = '';
const seen: { method?: string; type?: string; accept?: string; csrf?: string; body: string }[] = [];

beforeAll(async () => {
  server = createServer((req, res) => {
    let body = '';
    req.on('data', (c) => (body += c));
    req.on('end', () => {
      seen.push({
        method: req.method,
        type: req.headers['content-type'],
        accept: req.headers.accept,
        csrf: req.headers['x-csrf-token'] as string | undefined,
        body,
      });
      const json = (status: number, value: unknown) => {
        res.writeHead(status, { 'Content-Type': 'application/json' });
        res.end(JSON.stringify(value));
      };
      if (req.url === '/conflict') json(409, { error: 'cannot cancel a job that is cancelled', status: 409 });
      else if (req.url === '/text') {
        res.writeHead(502, { 'Content-Type': 'text/plain' });
        res.end('upstream went away\n');
      } else if (req.url === '/bare') {
        res.writeHead(503);
        res.end();
      } else if (req.url === '/empty') {
        res.writeHead(204);
        res.end();
      } else if (req.url === '/echo') json(200, { got: body ? JSON.parse(body) : null });
      else if (req.url === '/private') {
        res.writeHead(401, { 'Content-Type': 'application/json', 'WWW-Authenticate': 'Bearer' });
        res.end(JSON.stringify({ error: 'not signed in' }));
      } else json(404, { error: `not found: ${req.url}`, status: 404 });
    });
  });
  await new Promise<void>((ok) => server.listen(0, '127.0.0.1', ok));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(() => new Promise<void>((ok) => server.close(() => ok())));

async function failure(p: Promise<unknown>): Promise<ApiError> {
  try {
    await p;
  } catch (e) {
    expect(e).toBeInstanceOf(ApiError);
    return e as ApiError;
  }
  throw new Error('the call did not fail');
}

describe('request', () => {
  it("carries the server's error message and status", async () => {
    const e = await failure(request(`${base}/conflict`, { method: 'POST' }));
    expect([e.status, e.message, e.url]).toEqual([409, 'cannot cancel a job that is cancelled', `${base}/conflict`]);
    const text = await failure(request(`${base}/text`));
    expect([text.status, text.message]).toEqual([502, 'upstream went away']);
    const bare = await failure(request(`${base}/bare`));
    expect(bare.status).toBe(503);
    expect(bare.message).toBe('Service Unavailable');
  });

  it('lets expected statuses through as answers', async () => {
    const res = await request(`${base}/conflict`, { expect: [409] });
    expect(res.status).toBe(409);
    expect((await res.json()).status).toBe(409);
  });

  it('sends JSON bodies and reads JSON answers', async () => {
    expect(await requestJson(`${base}/echo`, { method: 'POST', json: { pld: [1.5, 2] } })).toEqual({ got: { pld: [1.5, 2] } });
    const last = seen[seen.length - 1];
    expect([last.method, last.type, last.accept]).toEqual(['POST', 'application/json', 'application/json']);
  });

  it('gives the empty value for 204 and fails without one', async () => {
    expect(await requestJson(`${base}/empty`, { empty: [] })).toEqual([]);
    expect((await failure(requestJson(`${base}/empty`))).message).toContain('empty');
  });

  it('reports an unreachable server as status 0', async () => {
    const closed = createServer();
    await new Promise<void>((ok) => closed.listen(0, '127.0.0.1', ok));
    const port = (closed.address() as AddressInfo).port;
    await new Promise<void>((ok) => closed.close(() => ok()));
    const e = await failure(request(`http://127.0.0.1:${port}/`));
    expect(e.status).toBe(0);
    expect(e.message).toContain('network error');
  });
});

describe('errorMessage', () => {
  it('prefers the error field, then the text, then the status text', () => {
    expect(errorMessage(400, 'Bad Request', '{"error":"limit must be 1-500"}', 'application/json')).toBe('limit must be 1-500');
    expect(errorMessage(400, 'Bad Request', '{"detail":"x"}', 'application/json')).toBe('{"detail":"x"}');
    expect(errorMessage(500, 'Internal Server Error', '', 'text/html')).toBe('Internal Server Error');
    expect(errorMessage(500, '', '', '')).toBe('HTTP 500');
  });
});

describe('session', () => {
  it('sends the CSRF token on state-changing methods only', async () => {
    setCsrfToken('tok-123');
    try {
      for (const method of ['POST', 'PUT', 'PATCH', 'DELETE', 'GET', 'HEAD']) await request(`${base}/echo`, { method });
      expect(seen.slice(-6).map((r) => [r.method, r.csrf])).toEqual([
        ['POST', 'tok-123'],
        ['PUT', 'tok-123'],
        ['PATCH', 'tok-123'],
        ['DELETE', 'tok-123'],
        ['GET', undefined],
        ['HEAD', undefined],
      ]);
      expect(sessionHeaders('post')).toEqual({ 'X-CSRF-Token': 'tok-123' });
    } finally {
      setCsrfToken('');
    }
    await request(`${base}/echo`, { method: 'POST' });
    expect(seen[seen.length - 1].csrf).toBeUndefined();
  });

  it('calls the unauthorized handler on a 401, unless the call opts out', async () => {
    const calls: string[] = [];
    onUnauthorized((url) => calls.push(url));
    try {
      const e = await failure(requestJson(`${base}/private`));
      expect([e.status, e.message]).toEqual([401, 'not signed in']);
      expect(calls).toEqual([`${base}/private`]);
      await failure(requestJson(`${base}/private`, { noLoginRedirect: true }));
      await request(`${base}/private`, { expect: [401] });
      await failure(request(`${base}/conflict`, { method: 'POST' }));
      expect(calls).toHaveLength(1);
    } finally {
      onUnauthorized(undefined);
    }
  });
});
