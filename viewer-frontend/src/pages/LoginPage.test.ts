// @vitest-environment jsdom
/// <reference types="node" />
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { flushPromises, mount } from '@vue/test-utils';
import LoginPage from './LoginPage.vue';
import { clearSession, session } from '../api/auth';
import { sessionHeaders } from '../api/http';
import { route, setGuard, signInRedirect, startRouter } from '../router';
import { setLocale } from '../i18n';

// A real HTTP server answering /api/auth/login the way the contract says; the page's relative URLs are
// sent to it (jsdom has no server of its own at its origin).
let server: Server;
let base = '';
const nodeFetch = globalThis.fetch;
const attempts: { username: string; password: string }[] = [];

beforeAll(async () => {
  server = createServer((req, res) => {
    let body = '';
    req.on('data', (c) => (body += c));
    req.on('end', () => {
      const { username, password } = JSON.parse(body || '{}') as { username: string; password: string };
      attempts.push({ username, password });
      const send = (status: number, value: unknown, headers: Record<string, string> = {}) => {
        res.writeHead(status, { 'Content-Type': 'application/json', ...headers });
        res.end(JSON.stringify(value));
      };
      if (req.url !== '/api/auth/login') send(404, { error: 'not found' });
      else if (username === 'locked') {
        send(429, { error: 'too many failed sign-ins for this account: try again in 3 minute(s)' }, { 'Retry-After': '125' });
      } else if (username === 'busy') {
        send(429, { error: 'too many failed sign-ins for this client address: try again in 1 minute(s)' }, { 'Retry-After': '30' });
      }
      else if (username === 'admin' && password === 'right') {
        const user = { id: 1, username: 'admin', role: 'admin', institution_id: 1, institution_name: 'Default', display_name: 'Administrator' };
        send(200, { user, csrf_token: 'csrf-abc' }, { 'Set-Cookie': 'cirrus_session=s; HttpOnly; SameSite=Lax' });
      } else send(401, { error: 'wrong username or password' }, { 'WWW-Authenticate': 'Bearer' });
    });
  });
  await new Promise<void>((ok) => server.listen(0, '127.0.0.1', ok));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  globalThis.fetch = (input, init) => nodeFetch(new URL(String(input), base), init);
  setLocale('en');
  setGuard((target, path) => signInRedirect(target, path, session.user !== null));
});
afterAll(() => {
  globalThis.fetch = nodeFetch;
  setGuard(undefined);
  return new Promise<void>((ok) => server.close(() => ok()));
});
afterEach(() => clearSession());

async function signIn(username: string, password: string) {
  const wrapper = mount(LoginPage);
  await wrapper.get('input[name=username]').setValue(username);
  await wrapper.get('input[name=password]').setValue(password);
  await wrapper.get('form').trigger('submit');
  for (let i = 0; i < 20 && attempts.at(-1)?.username !== username; i += 1) await new Promise((r) => setTimeout(r, 10));
  await new Promise((r) => setTimeout(r, 30));
  await flushPromises();
  return wrapper;
}

describe('LoginPage', () => {
  it('says a wrong password is wrong and clears the password field', async () => {
    const w = await signIn('admin', 'nope');
    expect(w.get('[data-testid=login-error]').text()).toBe('Wrong username or password.');
    expect((w.get('input[name=password]').element as HTMLInputElement).value).toBe('');
    expect(session.user).toBeNull();
  });

  it('shows the remaining lockout time, and throttling', async () => {
    const locked = await signIn('locked', 'x');
    expect(locked.get('[data-testid=login-error]').text()).toMatch(/locked .* Try again in 2 min [45] s\./);
    const busy = await signIn('busy', 'x');
    expect(busy.get('[data-testid=login-error]').text()).toMatch(/Too many attempts .* Wait (30|29) s/);
  });

  it('asks for both fields before calling the server', async () => {
    const before = attempts.length;
    const w = mount(LoginPage);
    await w.get('form').trigger('submit');
    expect(w.get('[data-testid=login-error]').text()).toBe('Enter a username and a password.');
    expect(attempts.length).toBe(before);
  });

  it('signs in, keeps the CSRF token and goes on to the page that was asked for', async () => {
    history.replaceState(null, '', '/login?next=%2Fanalysis%3Fstatus%3Dfailed');
    startRouter();
    expect(route.page).toBe('login');
    const w = await signIn('admin', 'right');
    expect(w.find('[data-testid=login-error]').exists()).toBe(false);
    expect(session.user?.username).toBe('admin');
    expect(sessionHeaders('POST')).toEqual({ 'X-CSRF-Token': 'csrf-abc' });
    expect(location.pathname + location.search).toBe('/analysis?status=failed');
    expect(route.page).toBe('analysis');
  });

  it('is in Chinese too', async () => {
    setLocale('zh-CN');
    try {
      const w = await signIn('admin', 'bad');
      expect(w.get('[data-testid=login-error]').text()).toBe('用户名或密码错误。');
      expect(w.get('button[type=submit]').text()).toBe('登录');
    } finally {
      setLocale('en');
    }
  });
});
