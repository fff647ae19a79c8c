// What every browser e2e script shares besides the server (server.mjs): the test runner that counts and
// prints results, assert, the artifacts folder, the Python that makes test data, and JSON calls.
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { REPO_DIR } from './server.mjs';

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
