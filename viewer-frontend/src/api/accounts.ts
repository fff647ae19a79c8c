// Account administration: users, API tokens and institutions (/api/users, /api/tokens, /api/institutions).
import { requestJson, request } from './http';

export const ROLES = ['admin', 'institution_admin', 'requesting_doctor', 'reporting_doctor', 'reviewer', 'technologist', 'read_only'] as const;
export type Role = (typeof ROLES)[number];
/** Levels, each including the ones before it: read < stow < write < admin. */
export const TOKEN_SCOPES = ['read', 'stow', 'write', 'admin'] as const;
export type TokenScope = (typeof TOKEN_SCOPES)[number];

export interface Institution {
  id: number;
  name: string;
  parent_id: number | null;
}

export interface User {
  id: number;
  username: string;
  display_name: string | null;
  role: string;
  institution_id: number | null;
  institution_name?: string | null;
  active: boolean;
  locked_until?: string | null;
  created_at?: string | null;
  last_login_at?: string | null;
}

export interface ApiToken {
  id: number;
  name: string | null;
  user_id: number | null;
  username?: string | null;
  scopes: string[];
  created_at: string | null;
  expires_at: string | null;
  last_used_at: string | null;
  revoked: boolean;
}

/** A freshly created token: the secret is in this answer only. */
export interface CreatedToken extends ApiToken {
  token: string;
}

/** Lists come as a bare array or wrapped ({items} / {users} / ...): accept both. */
function rows<T>(answer: unknown, key: string): T[] {
  if (Array.isArray(answer)) return answer as T[];
  if (answer && typeof answer === 'object') {
    const obj = answer as Record<string, unknown>;
    for (const k of [key, 'items', 'results']) if (Array.isArray(obj[k])) return obj[k] as T[];
  }
  return [];
}

/** The server may send a token's scope as one string or a list, and revocation as a flag or a time. */
export function normaliseToken(raw: Record<string, unknown>): ApiToken {
  const scope = raw.scopes ?? raw.scope;
  const scopes = Array.isArray(scope) ? scope.map(String) : typeof scope === 'string' ? scope.split(/[\s,]+/).filter(Boolean) : [];
  return {
    id: Number(raw.id),
    name: (raw.name as string | null | undefined) ?? null,
    user_id: (raw.user_id as number | null | undefined) ?? null,
    username: (raw.username as string | null | undefined) ?? null,
    scopes,
    created_at: (raw.created_at as string | null | undefined) ?? null,
    expires_at: (raw.expires_at as string | null | undefined) ?? null,
    last_used_at: (raw.last_used_at as string | null | undefined) ?? null,
    revoked: Boolean(raw.revoked ?? raw.revoked_at),
  };
}

export async function listUsers(): Promise<User[]> {
  return rows<User>(await requestJson<unknown>('/api/users', { empty: [] }), 'users').map((u) => ({ ...u, active: u.active ?? true }));
}

export interface NewUser {
  username: string;
  password: string;
  role: string;
  institution_id: number | null;
  display_name?: string;
}

export function createUser(user: NewUser): Promise<User> {
  return requestJson<User>('/api/users', { method: 'POST', json: user });
}

/** Change a user: deactivate / reactivate (`active`), a new password, a role. */
export function updateUser(
  id: number,
  change: Partial<{ active: boolean; password: string; role: string; display_name: string; unlock: boolean }>,
): Promise<User> {
  return requestJson<User>(`/api/users/${id}`, { method: 'PATCH', json: change, empty: {} as User });
}

/** The caller's own tokens, or one user's (administrators, institution administrators for their users). */
export async function listTokens(userId?: number): Promise<ApiToken[]> {
  const answer = await requestJson<unknown>(`/api/tokens${userId === undefined ? '' : `?user_id=${userId}`}`, { empty: [] });
  return rows<Record<string, unknown>>(answer, 'tokens').map(normaliseToken);
}

/** Every token the caller may manage: each listed user's (the server lists one user at a time). */
export async function listAllTokens(): Promise<ApiToken[]> {
  const users = await listUsers();
  const lists = await Promise.all(users.map((u) => listTokens(u.id)));
  return lists.flat().sort((a, b) => a.id - b.id);
}

export interface NewToken {
  name: string;
  scope: TokenScope;
  /** Days until the token stops working; null for no expiry. */
  expiresInDays: number | null;
}

/** `POST /api/tokens` answers `{token: {...}, secret}`; the secret is never shown again. */
export async function createToken(spec: NewToken): Promise<CreatedToken> {
  const raw = await requestJson<Record<string, unknown>>('/api/tokens', {
    method: 'POST',
    json: { name: spec.name, scope: spec.scope, expires_in: spec.expiresInDays === null ? null : `${spec.expiresInDays}d` },
  });
  const inner = (raw.token && typeof raw.token === 'object' ? raw.token : raw) as Record<string, unknown>;
  const secret = [raw.secret, raw.token, inner.secret].find((v): v is string => typeof v === 'string');
  return { ...normaliseToken(inner), token: secret ?? '' };
}

export async function revokeToken(id: number): Promise<void> {
  await request(`/api/tokens/${id}`, { method: 'DELETE' });
}

export async function listInstitutions(): Promise<Institution[]> {
  return rows<Institution>(await requestJson<unknown>('/api/institutions', { empty: [] }), 'institutions');
}

export function createInstitution(name: string, parentId: number | null): Promise<Institution> {
  return requestJson<Institution>('/api/institutions', { method: 'POST', json: { name, parent_id: parentId } });
}

export interface InstitutionNode {
  institution: Institution;
  depth: number;
}

/** Institutions in tree order (each parent followed by its children, by name), with their depth. */
export function institutionTree(list: Institution[]): InstitutionNode[] {
  const ids = new Set(list.map((i) => i.id));
  const children = new Map<number | null, Institution[]>();
  for (const inst of list) {
    const parent = inst.parent_id !== null && ids.has(inst.parent_id) ? inst.parent_id : null;
    children.set(parent, [...(children.get(parent) ?? []), inst]);
  }
  const out: InstitutionNode[] = [];
  const seen = new Set<number>();
  const walk = (parent: number | null, depth: number) => {
    for (const inst of (children.get(parent) ?? []).sort((a, b) => a.name.localeCompare(b.name))) {
      if (seen.has(inst.id)) continue;
      seen.add(inst.id);
      out.push({ institution: inst, depth });
      walk(inst.id, depth + 1);
    }
  };
  walk(null, 0);
  // A cycle (never expected) would leave rows out: show them at the top level rather than hide them.
  for (const inst of list) if (!seen.has(inst.id)) out.push({ institution: inst, depth: 0 });
  return out;
}
