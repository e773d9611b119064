// Model versions as immutable directories under a models root, and the `active` pointer (layout
// in src/adapters/model-registry-files.ts; `ganf serve` follows the pointer from there).
//
// The pointer is replaced atomically (temporary file, fsync, rename, fsync of the directory), so
// after a crash it names either the old or the new version. Promotion loads the new model first;
// only then is the pointer written. A model that does not load leaves the active model untouched.
// `ganf serve` follows the pointer on disk (src/stream/models.ts) and hands its sites over itself.
import { EventEmitter } from 'node:events';
import { existsSync } from 'node:fs';
import { mkdir, readdir, readFile, rm } from 'node:fs/promises';
import path from 'node:path';
import { z } from 'zod';
import { loadDetector, saveDetector, type Detector } from '../../detector.ts';
import { ManifestSchema, type Manifest } from '../../adapters/model-files.ts';
import { graphFromJSON, type DagGraph } from '../../dag-learning/extract.ts';
import { writeFileAtomic } from '../../adapters/fs-atomic.ts';
import { HttpProblem } from '../problems.ts';
import { activePointerFile, readActivePointer, versionsDir, type ActivePointer } from '../../adapters/model-registry-files.ts';

const VERSION_RE = /^[\w.-]{1,128}$/;

export const EvaluationSchema = z.object({
  heldOutSteps: z.number().int(),
  activeVersion: z.string(),
  activeMeanNll: z.number().describe('Mean per-step NLL of the active model on the held-out steps (nats, raw units)'),
  candidateMeanNll: z.number(),
  activeAlertRate: z.number(),
  candidateAlertRate: z.number(),
  rule: z.string(),
  promote: z.boolean(),
  reason: z.string(),
});
export type Evaluation = z.infer<typeof EvaluationSchema>;

export const VersionMetaSchema = z.object({
  version: z.string(),
  registeredAt: z.string(),
  origin: z.object({ kind: z.enum(['import', 'refit']), jobId: z.string().optional(), parent: z.string().nullable().optional(), warmStarted: z.boolean().optional(), by: z.string().optional() }),
  evaluation: EvaluationSchema.nullable(),
});
export type VersionMeta = z.infer<typeof VersionMetaSchema>;

export type { ActivePointer };

export interface VersionInfo {
  version: string;
  status: 'active' | 'previous' | 'candidate' | 'available';
  createdAt: string;
  sensors: string[];
  features: string[];
  edges: number;
  threshold: number;
  metrics: Record<string, unknown>;
  dataFingerprint: string;
  meta: VersionMeta | null;
}

export interface Activation {
  previous: string | null;
  current: string;
  reason: 'promote' | 'rollback' | 'refit';
  by: string;
}

export class ModelRegistry extends EventEmitter {
  private pointer: ActivePointer | null = null;
  private active: Detector | null = null;
  private lock: Promise<unknown> = Promise.resolve();

  private constructor(readonly root: string) {
    super();
  }

  static async open(root: string): Promise<ModelRegistry> {
    const reg = new ModelRegistry(path.resolve(root));
    await mkdir(reg.versionsDir, { recursive: true });
    await mkdir(path.join(reg.root, 'meta'), { recursive: true });
    // Leftovers of interrupted writes (saveModel's and ours) are never versions.
    for (const name of await readdir(reg.versionsDir)) {
      if (name.includes('.tmp-')) await rm(path.join(reg.versionsDir, name), { recursive: true, force: true });
    }
    reg.pointer = await readActivePointer(reg.root);
    if (reg.pointer) reg.active = await loadDetector(reg.dir(reg.pointer.version));
    return reg;
  }

  get versionsDir(): string {
    return versionsDir(this.root);
  }

  dir(version: string): string {
    if (!VERSION_RE.test(version)) throw new HttpProblem(400, `invalid version "${version}"`, [{ field: 'version', message: 'letters, digits, _ . - only' }]);
    return path.join(this.versionsDir, version);
  }

  activeVersion(): string | null {
    return this.pointer?.version ?? null;
  }

  activePointer(): ActivePointer | null {
    return this.pointer;
  }

  activeDetector(): Detector | null {
    return this.active;
  }

  async exists(version: string): Promise<boolean> {
    return existsSync(path.join(this.dir(version), 'manifest.json'));
  }

  /** Saves a fitted detector as a new immutable version (refuses to overwrite an existing one). */
  async addDetector(det: Detector, meta: Omit<VersionMeta, 'version' | 'registeredAt'>): Promise<string> {
    const v = det.modelVersion;
    if (await this.exists(v)) throw new HttpProblem(409, `version ${v} exists; versions are immutable`);
    await saveDetector(det, this.dir(v));
    await this.writeMeta(v, meta);
    return v;
  }

  /** Registers a version directory that was written in place (by a refit worker). */
  async registerWritten(version: string, meta: Omit<VersionMeta, 'version' | 'registeredAt'>): Promise<void> {
    await this.manifest(version);
    await this.writeMeta(version, meta);
  }

  async manifest(version: string): Promise<Manifest> {
    let raw: unknown;
    try {
      raw = JSON.parse(await readFile(path.join(this.dir(version), 'manifest.json'), 'utf8'));
    } catch {
      throw new HttpProblem(404, `no model version ${version}`);
    }
    return ManifestSchema.parse(raw);
  }

  async meta(version: string): Promise<VersionMeta | null> {
    try {
      return VersionMetaSchema.parse(JSON.parse(await readFile(path.join(this.root, 'meta', `${version}.json`), 'utf8')));
    } catch {
      return null;
    }
  }

  async graph(version: string): Promise<DagGraph> {
    const m = await this.manifest(version);
    return graphFromJSON(JSON.parse(await readFile(path.join(this.dir(version), m.files.graph), 'utf8')), m.sensors);
  }

  async list(): Promise<VersionInfo[]> {
    const names = (await readdir(this.versionsDir, { withFileTypes: true })).filter((d) => d.isDirectory() && !d.name.includes('.tmp-')).map((d) => d.name);
    const out: VersionInfo[] = [];
    for (const n of names) {
      if (!(await this.exists(n))) continue;
      out.push(await this.info(n));
    }
    return out.sort((a, b) => b.createdAt.localeCompare(a.createdAt) || b.version.localeCompare(a.version));
  }

  async info(version: string): Promise<VersionInfo> {
    const m = await this.manifest(version);
    const meta = await this.meta(version);
    const p = this.pointer;
    const status = p?.version === version ? 'active' : p?.history.includes(version) ? 'previous' : meta?.origin.kind === 'refit' ? 'candidate' : 'available';
    const graph = JSON.parse(await readFile(path.join(this.dir(version), m.files.graph), 'utf8')) as { edges?: unknown[] };
    return {
      version, status, createdAt: m.createdAt, sensors: m.sensors, features: m.features, edges: graph.edges?.length ?? 0,
      threshold: m.threshold.value, metrics: m.metrics, dataFingerprint: m.dataFingerprint, meta,
    };
  }

  promote(version: string, opts: { reason?: Activation['reason']; by: string }): Promise<ActivePointer> {
    return this.serial(async () => {
      if (this.pointer?.version === version) throw new HttpProblem(409, `version ${version} is already active`);
      const history = this.pointer ? [this.pointer.version, ...this.pointer.history.filter((h) => h !== version)].slice(0, 50) : [];
      return this.activate(version, history, opts.reason ?? 'promote', opts.by);
    });
  }

  rollback(opts: { by: string }): Promise<ActivePointer> {
    return this.serial(async () => {
      const target = this.pointer?.history[0];
      if (!target) throw new HttpProblem(409, 'there is no previous version to roll back to');
      return this.activate(target, this.pointer!.history.slice(1), 'rollback', opts.by);
    });
  }

  dispose(): void {
    if (this.active) disposeDetector(this.active);
    this.active = null;
  }

  private async activate(version: string, history: string[], reason: Activation['reason'], by: string): Promise<ActivePointer> {
    await this.manifest(version); // 404 for an unknown version
    let det: Detector;
    try {
      det = await loadDetector(this.dir(version));
    } catch (err) {
      throw new HttpProblem(422, `version ${version} cannot be loaded: ${(err as Error).message}`);
    }
    const pointer: ActivePointer = { version, history, changedAt: new Date().toISOString(), reason, by };
    try {
      await writeFileAtomic(activePointerFile(this.root), JSON.stringify(pointer, null, 1));
    } catch (err) {
      disposeDetector(det);
      throw err;
    }
    // Synchronous from here on: no request can see the new pointer with the old model.
    const previous = this.active;
    this.pointer = pointer;
    this.active = det;
    const activation: Activation = { previous: previous?.modelVersion ?? null, current: version, reason, by };
    this.emit('activated', activation, det);
    if (previous) disposeDetector(previous);
    return pointer;
  }

  private async writeMeta(version: string, meta: Omit<VersionMeta, 'version' | 'registeredAt'>): Promise<void> {
    const full: VersionMeta = { version, registeredAt: new Date().toISOString(), ...meta };
    await writeFileAtomic(path.join(this.root, 'meta', `${version}.json`), JSON.stringify(full, null, 1));
  }

  private serial<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.lock.then(fn, fn);
    this.lock = run.catch(() => undefined);
    return run;
  }
}

export function disposeDetector(det: Detector): void {
  det.model.dispose();
  det.adjacency.dispose();
}
