// What every browser e2e script shares besides the server (server.mjs): the test runner that counts and
// prints results, assert, the artifacts folder, the Python that makes test data, and JSON calls.
import { execFileSync } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { CROSS_SERIES } from './fixtures.mjs';
import { REPO_DIR, SHARED_DATA, listFiles } from './server.mjs';

export const ARTIFACTS = join(REPO_DIR, 'test-artifacts', 'e2e');
mkdirSync(ARTIFACTS, { recursive: true });
export const PYTHON = process.env.CIRRUS_PYTHON ?? join(REPO_DIR, '.venv/bin/python');
export const SERVER_DIR = process.env.CIRRUS_SERVER_DIR ?? REPO_DIR;

export function assert(cond, message) {
  if (!cond) throw new Error(message);
}

/**
 * A runner: `test(name, fn)` runs fn and records passed, failed, or skipped (fn returned `{ skip: why }`);
 * with `only`, tests whose name does not contain it are not run. `finish(label)` prints
 * `label: N passed, M failed[, K skipped]` and exits non-zero on any failure.
 */
export function runner({ only } = {}) {
  const results = [];
  const count = (status) => results.filter((r) => r.status === status).length;
  return {
    results,
    count,
    async test(name, fn) {
      if (only && !name.includes(only)) return;
      const started = Date.now();
      try {
        const note = await fn();
        if (note && note.skip) {
          results.push({ name, status: 'skipped' });
          console.log(`skip - ${name}: ${note.skip}`);
        } else {
          results.push({ name, status: 'passed' });
          console.log(`ok - ${name} (${Date.now() - started} ms)`);
        }
      } catch (e) {
        results.push({ name, status: 'failed' });
        console.log(`not ok - ${name}: ${e.stack ?? e}`);
      }
    },
    /** Record a failure outside any test (the setup), with what else helps (e.g. the server's output). */
    fail(name, e, detail = '') {
      console.log(`not ok - ${name}: ${e.stack ?? e}${detail ? `\n${detail}` : ''}`);
      results.push({ name, status: 'failed' });
    },
    finish(label, suffix = '') {
      const skipped = count('skipped');
      console.log(`${label}: ${count('passed')} passed, ${count('failed')} failed${skipped ? `, ${skipped} skipped` : ''}${suffix}`);
      process.exit(count('failed') ? 1 : 0);
    },
  };
}

/**
 * A JSON call through `target.fetch` (a server from startServer, or apiAs's target); throws unless the
 * answer has status `expect` (default: any 2xx). Returns the parsed body ({} when empty).
 */
export async function jsonCall(target, path, { method = 'GET', json, expect } = {}) {
  const headers = { Accept: 'application/json', ...(json === undefined ? {} : { 'Content-Type': 'application/json' }) };
  const res = await target.fetch(path, { method, headers, body: json === undefined ? undefined : JSON.stringify(json) });
  const text = await res.text();
  if (expect === undefined ? !res.ok : res.status !== expect) {
    throw new Error(`${method} ${path} answered ${res.status}: ${text.slice(0, 300)}`);
  }
  return text ? JSON.parse(text) : {};
}

/**
 * The files of two studies, written under `work`: the cross-series fixture (an axial and a sagittal series
 * in one frame of reference, fixtures.mjs) and the ASL study `asl` of ../shared/data with the CBF map and
 * colour series our own `cirrus quant` makes of it.
 */
export function crossAndAslFiles(work, asl = 'asl/siemens/pcasl3d') {
  const crossDir = join(work, 'cross');
  const quantDir = join(work, 'quant');
  mkdirSync(crossDir);
  mkdirSync(quantDir);
  execFileSync(PYTHON, ['-c', CROSS_SERIES, crossDir]);
  execFileSync(PYTHON, ['-m', 'server.cli', 'quant', join(SHARED_DATA, asl), '--out', quantDir, '--no-regions'],
    { cwd: SERVER_DIR, stdio: 'ignore', env: { ...process.env, PYTHONPATH: SERVER_DIR } });
  return [...listFiles(crossDir), ...listFiles(join(SHARED_DATA, asl)), ...listFiles(quantDir).filter((f) => f.endsWith('.dcm'))];
}
