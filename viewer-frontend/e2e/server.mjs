// Start a real Cirrus server for browser tests and benches, and load DICOM files into it over STOW-RS.
// Access control is on: the server starts with a known first-admin password (CIRRUS_ADMIN_PASSWORD);
// the harness signs in over the API once and its calls (`server.fetch`, `stowFiles`) carry that
// session's cookie and CSRF token; browser contexts sign in through the login page (`signIn`).
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync, existsSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

export const FRONT_DIR = resolve(fileURLToPath(import.meta.url), '../..');
export const REPO_DIR = resolve(FRONT_DIR, '..');
// The shared test data beside the repository (CIRRUS_SHARED_DATA: elsewhere, e.g. for a worktree).
export const SHARED_DATA = process.env.CIRRUS_SHARED_DATA ?? resolve(REPO_DIR, '../shared/data');

export const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--no-first-run',
];
export const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';

function freePort() {
  return new Promise((ok, fail) => {
    const srv = createServer();
    srv.once('error', fail);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => ok(port));
    });
  });
}

/**
 * `cirrus serve --migrate` on a free loopback port with a fresh data folder, serving our dist/.
 * PYTHON / CIRRUS_SERVER_DIR let a developer point at another checkout; by default the repo's .venv.
 */
export async function startServer({ log = false, workers = 0 } = {}) {
  const python = process.env.CIRRUS_PYTHON ?? join(REPO_DIR, '.venv/bin/python');
  const cwd = process.env.CIRRUS_SERVER_DIR ?? REPO_DIR;
  if (!existsSync(python)) throw new Error(`no Python at ${python}: run \`make install\` first`);
  const dist = join(FRONT_DIR, 'dist');
  if (!existsSync(join(dist, 'index.html'))) throw new Error('no dist/index.html: run `npm run build` first');
  const dataDir = mkdtempSync(join(tmpdir(), 'cirrus-e2e-'));
  const port = await freePort();
  const admin = { username: 'admin', password: `e2e-${randomBytes(12).toString('base64url')}` };
  const child = spawn(python, ['-m', 'server.cli', 'serve', '--migrate', '--port', String(port)], {
    cwd,
    env: {
      // Never inherit a developer's CIRRUS_* settings (a database URL above all): this server is private.
      ...Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('CIRRUS_'))),
      CIRRUS_DATA_DIR: dataDir,
      CIRRUS_STATIC_DIR: dist,
      CIRRUS_WORKERS: String(workers),
      CIRRUS_ADMIN_PASSWORD: admin.password,
      // Plain http on loopback: a Secure cookie would never be sent back.
      CIRRUS_COOKIE_SECURE: 'false',
      PYTHONPATH: cwd,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  const keep = (chunk) => {
    output = (output + chunk.toString()).slice(-20000);
    if (log) process.stderr.write(chunk);
  };
  child.stdout.on('data', keep);
  child.stderr.on('data', keep);
  const base = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + 240000; // migrations and worker start-up take a while on a loaded machine
  for (;;) {
    if (child.exitCode !== null) throw new Error(`server exited with ${child.exitCode}:\n${output}`);
    try {
      const res = await fetch(`${base}/dicom-web/studies?limit=1`);
      if (res.status < 500) break;
    } catch {
      /* not listening yet */
    }
    if (Date.now() > deadline) {
      child.kill('SIGTERM');
      throw new Error(`server did not answer within 240 s:\n${output}`);
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  const session = await apiSession(base, admin);
  return {
    base,
    port,
    dataDir,
    admin,
    /** Whether the server has accounts (POST /api/auth/login exists). */
    auth: session !== null,
    /** fetch against this server as the signed-in admin: `path` is relative to the base. */
    fetch: sessionFetch(base, session),
    output: () => output,
    async stop() {
      if (child.exitCode === null) {
        child.kill('SIGTERM');
        await new Promise((r) => {
          const timer = setTimeout(() => {
            child.kill('SIGKILL');
            r();
          }, 5000);
          child.once('exit', () => {
            clearTimeout(timer);
            r();
          });
        });
      }
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

/** Sign in over the API: { cookie, csrf } for later calls, or null when the server has no accounts. */
async function apiSession(base, { username, password }) {
  const res = await fetch(`${base}/api/auth/login`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json', Accept: 'application/json' },
    body: JSON.stringify({ username, password }),
  });
  if (res.status === 404 || res.status === 405) return null;
  const text = await res.text();
  if (!res.ok) throw new Error(`harness login answered ${res.status}: ${text.slice(0, 300)}`);
  const cookie = res.headers
    .getSetCookie()
    .map((c) => c.split(';')[0])
    .join('; ');
  if (!cookie) throw new Error('harness login set no cookie');
  return { cookie, csrf: JSON.parse(text).csrf_token ?? '' };
}

/**
 * fetch once more when a pooled keep-alive connection turned out closed: the server drops idle ones
 * after 5 s, and a synchronous step in a test (execFileSync) can keep Node from noticing in time.
 * Only for socket-level failures before any answer; every harness call is safe to repeat (STOW of an
 * identical instance is a success).
 */
async function retryStale(call) {
  try {
    return await call();
  } catch (e) {
    if (!['EPIPE', 'ECONNRESET', 'UND_ERR_SOCKET'].includes(e?.cause?.code)) throw e;
    return call();
  }
}

/**
 * Sign `user` in over the API: a `{ fetch }` target (for stowFiles and jsonCall) that sends the user's
 * cookie and CSRF token.
 */
export async function apiAs(server, user) {
  return { fetch: sessionFetch(server.base, await retryStale(() => apiSession(server.base, user))) };
}

function sessionFetch(base, session) {
  return (path, init = {}) => retryStale(() => fetch(new URL(path, base), withSession(session, init)));
}

function withSession(session, init) {
  if (!session) return init;
  const headers = new Headers(init.headers ?? {});
  headers.set('Cookie', session.cookie);
  if (!['GET', 'HEAD', 'OPTIONS'].includes((init.method ?? 'GET').toUpperCase())) headers.set('X-CSRF-Token', session.csrf);
  return { ...init, headers };
}

/**
 * Sign a browser page in through the login page (a real login: form, cookie, redirect), as `user`
 * (default: the server's admin). Resolves once the header shows the user. A no-op on a server without accounts.
 */
export async function signIn(page, server, user = server.admin) {
  if (!server.auth) return;
  await page.goto(`${server.base}/login`);
  await page.fill('input[name=username]', user.username);
  await page.fill('input[name=password]', user.password);
  await page.click('[data-testid=login-submit]');
  await page.waitForSelector('[data-testid=current-user]', { timeout: 15000 });
}

export function listFiles(dir) {
  const out = [];
  for (const name of readdirSync(dir).sort()) {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) out.push(...listFiles(path));
    else out.push(path);
  }
  return out;
}

/**
 * STOW files in batches; returns { stored, failed } counted from the server's responses.
 * `target` is a server from startServer (its session is used) or a bare base URL (no credentials).
 */
export async function stowFiles(target, paths, batchSize = 40) {
  const send = typeof target === 'string' ? (path, init) => retryStale(() => fetch(new URL(path, target), init)) : target.fetch;
  let stored = 0;
  let failed = 0;
  for (let i = 0; i < paths.length; i += batchSize) {
    const boundary = `e2e-${Date.now()}-${i}`;
    const chunks = [];
    for (const p of paths.slice(i, i + batchSize)) {
      chunks.push(Buffer.from(`--${boundary}\r\nContent-Type: application/dicom\r\n\r\n`), readFileSync(p), Buffer.from('\r\n'));
    }
    chunks.push(Buffer.from(`--${boundary}--\r\n`));
    const res = await send('/dicom-web/studies', {
      method: 'POST',
      headers: { 'Content-Type': `multipart/related; type="application/dicom"; boundary=${boundary}`, Accept: 'application/dicom+json' },
      body: Buffer.concat(chunks),
    });
    const text = await res.text();
    if (res.status >= 400 && res.status !== 409) throw new Error(`STOW answered ${res.status}: ${text.slice(0, 300)}`);
    const body = text ? JSON.parse(text) : {};
    stored += body['00081199']?.Value?.length ?? 0;
    failed += body['00081198']?.Value?.length ?? 0;
  }
  return { stored, failed };
}
