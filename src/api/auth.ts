// API keys with roles. reader < operator < admin. A key is presented as `Authorization: Bearer <key>`
// or `X-API-Key: <key>` and compared by its SHA-256 digest against every known key with
// crypto.timingSafeEqual (no early exit), so timing reveals neither which key nor how much matched.
// Every route needs at least `reader` unless it is declared public (only /health by default).
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import fp from 'fastify-plugin';
import { z } from 'zod';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { RoleSchema, type ApiConfig, type Role } from './config.ts';
import { writeFileAtomic } from '../adapters/fs-atomic.ts';
import { HttpProblem, problemResponses } from './problems.ts';

export const ROLE_RANK: Record<Role, number> = { reader: 1, operator: 2, admin: 3 };

export interface Principal {
  name: string;
  role: Role;
}

declare module 'fastify' {
  interface FastifyRequest {
    principal: Principal | null;
  }
  interface FastifyContextConfig {
    /** Minimum role for the route, or 'public'. Default 'reader'. */
    auth?: Role | 'public';
  }
}

interface KeyEntry {
  name: string;
  role: Role;
  digest: Buffer;
  source: 'config' | 'api';
  createdAt: string | null;
  createdBy: string | null;
}

const StoredKeySchema = z.object({
  name: z.string(),
  role: RoleSchema,
  sha256: z.string().regex(/^[0-9a-f]{64}$/),
  createdAt: z.string(),
  createdBy: z.string(),
});

function sha256(s: string): Buffer {
  return createHash('sha256').update(s, 'utf8').digest();
}

export class KeyStore {
  private entries: KeyEntry[] = [];
  private readonly file: string;

  constructor(config: ApiConfig, env: NodeJS.ProcessEnv = process.env) {
    this.file = path.join(config.dataDir, 'keys.json');
    for (const k of config.auth.keys) {
      let digest: Buffer;
      if (k.sha256) digest = Buffer.from(k.sha256, 'hex');
      else if (k.key) digest = sha256(k.key);
      else {
        const v = env[k.env!];
        if (!v || v.length < 16) throw new Error(`auth.keys ${k.name}: environment variable ${k.env} is unset or shorter than 16 characters`);
        digest = sha256(v);
      }
      this.entries.push({ name: k.name, role: k.role, digest, source: 'config', createdAt: null, createdBy: null });
    }
    if (existsSync(this.file)) {
      const raw = z.array(StoredKeySchema).parse(JSON.parse(readFileSync(this.file, 'utf8')));
      for (const k of raw) this.entries.push({ name: k.name, role: k.role, digest: Buffer.from(k.sha256, 'hex'), source: 'api', createdAt: k.createdAt, createdBy: k.createdBy });
    }
    const names = new Set<string>();
    for (const e of this.entries) {
      if (names.has(e.name)) throw new Error(`duplicate API key name "${e.name}"`);
      names.add(e.name);
    }
  }

  /** Constant-time lookup: every stored digest is compared, whatever matched earlier. */
  verify(presented: string): Principal | null {
    const d = sha256(presented);
    let found: KeyEntry | null = null;
    for (const e of this.entries) {
      if (timingSafeEqual(d, e.digest) && !found) found = e;
    }
    return found ? { name: found.name, role: found.role } : null;
  }

  list(): { name: string; role: Role; source: 'config' | 'api'; createdAt: string | null; createdBy: string | null }[] {
    return this.entries.map(({ name, role, source, createdAt, createdBy }) => ({ name, role, source, createdAt, createdBy }));
  }

  /** Creates a key; the secret is returned once and only its digest is stored. */
  async create(name: string, role: Role, by: string): Promise<{ name: string; role: Role; key: string }> {
    if (this.entries.some((e) => e.name === name)) throw new HttpProblem(409, `a key named "${name}" exists`, [{ field: 'body.name', message: 'already exists' }]);
    const key = `ganf_${randomBytes(24).toString('base64url')}`;
    this.entries.push({ name, role, digest: sha256(key), source: 'api', createdAt: new Date().toISOString(), createdBy: by });
    await this.persist();
    return { name, role, key };
  }

  async remove(name: string): Promise<boolean> {
    const e = this.entries.find((x) => x.name === name);
    if (!e) return false;
    if (e.source === 'config') throw new HttpProblem(409, `key "${name}" comes from the config file; remove it there`);
    this.entries = this.entries.filter((x) => x !== e);
    await this.persist();
    return true;
  }

  private async persist(): Promise<void> {
    const api = this.entries.filter((e) => e.source === 'api').map((e) => ({ name: e.name, role: e.role, sha256: e.digest.toString('hex'), createdAt: e.createdAt, createdBy: e.createdBy }));
    await writeFileAtomic(this.file, JSON.stringify(api, null, 1));
  }
}

function presentedKey(req: FastifyRequest): string | null {
  const h = req.headers.authorization;
  if (typeof h === 'string') {
    const m = /^Bearer\s+(\S+)\s*$/i.exec(h);
    if (m) return m[1];
  }
  const x = req.headers['x-api-key'];
  if (typeof x === 'string' && x.length > 0) return x;
  return null;
}

function isPublic(url: string, publicRoutes: string[]): boolean {
  return publicRoutes.some((p) => (p.endsWith('*') ? url.startsWith(p.slice(0, -1)) : url === p));
}

async function auth(app: FastifyInstance, opts: { keys: KeyStore; publicRoutes: string[] }): Promise<void> {
  app.decorateRequest('principal', null);
  app.addHook('onRequest', async (req, reply) => {
    const cfg = req.routeOptions.config;
    const url = req.routeOptions.url;
    if (url === undefined) return; // no such route: the 404 handler answers
    const required = cfg?.auth ?? 'reader';
    if (required === 'public' || isPublic(url, opts.publicRoutes)) return;
    const key = presentedKey(req);
    const principal = key === null ? null : opts.keys.verify(key);
    if (!principal) {
      reply.header('www-authenticate', 'Bearer realm="ganf"');
      throw new HttpProblem(401, key === null ? 'an API key is required (Authorization: Bearer <key> or X-API-Key)' : 'the API key is not valid');
    }
    if (ROLE_RANK[principal.role] < ROLE_RANK[required]) {
      throw new HttpProblem(403, `this route needs role ${required}; key "${principal.name}" has role ${principal.role}`);
    }
    req.principal = principal;
  });
}

export const authPlugin = fp(auth, { name: 'auth', dependencies: ['problems'] });

/** Admin routes for keys. */
export async function keyRoutes(app: FastifyInstance, opts: { keys: KeyStore }): Promise<void> {
  const r = app.withTypeProvider<ZodTypeProvider>();
  const KeyInfo = z.object({ name: z.string(), role: RoleSchema, source: z.enum(['config', 'api']), createdAt: z.string().nullable(), createdBy: z.string().nullable() });
  r.get('/keys', {
    config: { auth: 'admin' },
    schema: { tags: ['auth'], summary: 'List API keys (names and roles; never the secrets)', response: { 200: z.object({ items: z.array(KeyInfo) }), ...problemResponses() } },
  }, async () => ({ items: opts.keys.list() }));
  r.post('/keys', {
    config: { auth: 'admin' },
    schema: {
      tags: ['auth'], summary: 'Create an API key; the key is shown only in this response',
      body: z.strictObject({ name: z.string().min(1).max(64).regex(/^[\w.@-]+$/), role: RoleSchema }),
      response: { 201: z.object({ name: z.string(), role: RoleSchema, key: z.string() }), ...problemResponses(400, 409) },
    },
  }, async (req, reply) => {
    const created = await opts.keys.create(req.body.name, req.body.role, req.principal!.name);
    return reply.code(201).send(created);
  });
  r.delete('/keys/:name', {
    config: { auth: 'admin' },
    schema: { tags: ['auth'], summary: 'Revoke an API-created key', params: z.object({ name: z.string() }), response: { 204: z.null(), ...problemResponses(404, 409) } },
  }, async (req, reply) => {
    if (!(await opts.keys.remove(req.params.name))) throw new HttpProblem(404, `no key named "${req.params.name}"`);
    return reply.code(204).send(null);
  });
}
