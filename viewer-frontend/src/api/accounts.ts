// Account administration: users, API tokens and institutions (/api/users, /api/tokens, /api/institutions).
// The shapes are the server's OpenAPI document's (schema.d.ts), so a contract change fails the type check.
import type { components } from './schema';
import { request, requestJson } from './http';

type Schemas = components['schemas'];
export type User = Schemas['User'];
export type Role = User['role'];
export type ApiToken = Schemas['ApiToken'];
export type TokenScope = ApiToken['scope'];
export type Institution = Schemas['Institution'];
/** A freshly created token: `secret` is in this answer only. */
export type CreatedToken = Schemas['NewApiToken'];

export const ROLES: readonly Role[] = ['admin', 'institution_admin', 'requesting_doctor', 'reporting_doctor', 'reviewer', 'technologist', 'read_only'];
/** Levels, each including the ones before it: read < stow < write < admin. */
export const TOKEN_SCOPES: readonly TokenScope[] = ['read', 'stow', 'write', 'admin'];

export async function listUsers(): Promise<User[]> {
  return (await requestJson<Schemas['UserList']>('/api/users')).users;
}

export interface NewUser {
  username: string;
  password: string;
  role: Role;
  institution_id: number | null;
  display_name?: string;
}

export function createUser(user: NewUser): Promise<User> {
  return requestJson<User>('/api/users', { method: 'POST', json: user });
}

/** Change a user: deactivate / reactivate (`active`), a new password (signs them out everywhere), a role, unlock. */
export function updateUser(
  id: number,
  change: Partial<{ active: boolean; password: string; role: Role; display_name: string; unlock: boolean }>,
): Promise<User> {
  return requestJson<User>(`/api/users/${id}`, { method: 'PATCH', json: change });
}

/** The caller's own tokens, or one user's (administrators; institution administrators for their users). */
export async function listTokens(userId?: number): Promise<ApiToken[]> {
  return (await requestJson<Schemas['ApiTokenList']>(`/api/tokens${userId === undefined ? '' : `?user_id=${userId}`}`)).tokens;
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

export function createToken(spec: NewToken): Promise<CreatedToken> {
  return requestJson<CreatedToken>('/api/tokens', {
    method: 'POST',
    json: { name: spec.name, scope: spec.scope, expires_in: spec.expiresInDays === null ? null : `${spec.expiresInDays}d` },
  });
}

export async function revokeToken(id: number): Promise<void> {
  await request(`/api/tokens/${id}`, { method: 'DELETE' });
}

export type TokenStatus = 'revoked' | 'expired' | 'valid';
export function tokenStatus(token: ApiToken, now = Date.now()): TokenStatus {
  if (token.revoked_at) return 'revoked';
  if (token.expires_at && Date.parse(token.expires_at) <= now) return 'expired';
  return 'valid';
}

export async function listInstitutions(): Promise<Institution[]> {
  return (await requestJson<Schemas['InstitutionList']>('/api/institutions')).institutions;
}

export function createInstitution(name: string, parentId: number | null): Promise<Institution> {
  return requestJson<Institution>('/api/institutions', { method: 'POST', json: { name, parent_id: parentId } });
}

export interface InstitutionNode {
  institution: Pick<Institution, 'id' | 'name' | 'parent_id'>;
  depth: number;
}

/** Institutions in tree order (each parent followed by its children, by name), with their depth. */
export function institutionTree<T extends InstitutionNode['institution']>(list: T[]): { institution: T; depth: number }[] {
  const ids = new Set(list.map((i) => i.id));
  const children = new Map<number | null, T[]>();
  for (const inst of list) {
    const parent = inst.parent_id !== null && ids.has(inst.parent_id) ? inst.parent_id : null;
    children.set(parent, [...(children.get(parent) ?? []), inst]);
  }
  const out: { institution: T; depth: number }[] = [];
  const seen = new Set<number>();
  const walk = (parent: number | null, depth: number) => {
    for (const inst of [...(children.get(parent) ?? [])].sort((a, b) => a.name.localeCompare(b.name))) {
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
