// Refit jobs: one at a time, each in a worker thread (node:worker_threads) so scoring and the API
// keep running. The job's record (queued -> running (phase, progress) -> succeeded | failed |
// cancelled) is appended to a JSON-lines log so it survives restarts; a job that was running when
// the service stopped is reported as failed (interrupted), and the active model is untouched
// because only a finished job's main-thread step can promote.
import type { Worker } from 'node:worker_threads';
import { startModuleWorker } from '../../util/worker.ts';
import { randomUUID } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import { JsonLinesLog } from '../../adapters/fs-atomic.ts';
import { redactPaths } from '../redact.ts';
import { HttpProblem } from '../problems.ts';
import type { ApiMetrics } from '../metrics.ts';
import type { AlertStore } from '../alerts/store.ts';
import type { ModelRegistry } from '../models/registry.ts';
import type { LiveSteps } from '../steps/live-steps.ts';
import type { RefitInput, RefitOutput, RefitSource } from './run.ts';
import type { PromotionRule } from './shadow.ts';
import type { SeriesTable } from '../../data/table.ts';

export type JobStatus = 'queued' | 'running' | 'succeeded' | 'failed' | 'cancelled';

export interface JobRecord {
  id: string;
  kind: 'refit';
  trigger: 'manual' | 'drift' | 'schedule';
  by: string;
  status: JobStatus;
  phase: string;
  progress: number;
  createdAt: string;
  startedAt: string | null;
  finishedAt: string | null;
  baseVersion: string;
  request: Record<string, unknown>;
  result: (RefitOutput & { outcome: 'promoted' | 'candidate'; outcomeReason: string }) | null;
  error: string | null;
}

export interface RefitRequest {
  source: { kind: 'csv'; path: string; lastSteps?: number } | { kind: 'table'; table: SeriesTable; lastSteps?: number } | { kind: 'stream'; site: string; lastSteps?: number };
  /** Leave out the steps of stored alerts: all of them, or only resolved ones (still-firing alerts' steps kept), or none. */
  excludeAlerts: boolean | 'resolved';
  site?: string;
  excludeRanges: [number, number][];
  warmStart: boolean;
  autoPromote: boolean;
  overrides: Record<string, unknown>;
}

export interface RefitJobsOptions {
  dataDir: string;
  registry: ModelRegistry;
  alerts: AlertStore;
  /** The live stream's steps (drift events, the `stream` source); null without a steps topic. */
  live: LiveSteps | null;
  metrics?: ApiMetrics;
  holdoutFraction: number;
  rule: PromotionRule;
  baseOverrides: Record<string, unknown>;
  allowedDataDirs: string[];
  onDrift: boolean;
  /** A drift-triggered refit waits for this many steps of the drifting site after the drift, and trains on them only. */
  minStepsAfterDrift: number;
  scheduleMinutes: number;
  cooldownMinutes: number;
  defaultWarmStart: boolean;
}

export class RefitJobs {
  private readonly jobs = new Map<string, JobRecord>();
  private readonly workers = new Map<string, Worker>();
  private readonly log: JsonLinesLog<JobRecord>;
  private running: string | null = null;
  private lastAuto = 0;
  private timer: NodeJS.Timeout | undefined;
  private readonly waiters = new Map<string, (() => void)[]>();

  constructor(private readonly o: RefitJobsOptions) {
    mkdirSync(o.dataDir, { recursive: true });
    const { log, records } = JsonLinesLog.open<JobRecord>(path.join(o.dataDir, 'jobs.jsonl'), { sync: true });
    this.log = log;
    for (const r of records) this.jobs.set(r.id, r);
    for (const j of this.jobs.values()) {
      if (j.status === 'queued' || j.status === 'running') {
        this.update(j, { status: 'failed', error: 'interrupted: the service stopped while the job ran (the active model was not changed)', finishedAt: new Date().toISOString() });
      }
    }
    if (o.live && o.onDrift) {
      const live = o.live;
      // Per site: the step count at which its monitor fired. A monitor fires once per model version,
      // and the stream's switch to a promoted version starts a new monitor, so a site refits once per drift.
      const driftAt = new Map<string, number>();
      live.on('drift', (site: string) => {
        if (!driftAt.has(site)) driftAt.set(site, live.seqOf(site));
      });
      live.on('step', (site: string, seq: number) => {
        const at = driftAt.get(site);
        if (at !== undefined && seq - at >= o.minStepsAfterDrift && this.auto('drift', site, seq - at)) driftAt.delete(site);
      });
    }
    if (o.scheduleMinutes > 0) {
      this.timer = setInterval(() => {
        const site = o.live?.siteNames.at(-1);
        if (site !== undefined) this.auto('schedule', site);
      }, o.scheduleMinutes * 60_000);
      this.timer.unref();
    }
  }

  get(id: string): JobRecord | undefined {
    return this.jobs.get(id);
  }

  list(): JobRecord[] {
    return [...this.jobs.values()].sort((a, b) => b.createdAt.localeCompare(a.createdAt));
  }

  /** Resolves when the job has finished (any outcome). */
  async wait(id: string): Promise<JobRecord> {
    const j = this.jobs.get(id);
    if (!j) throw new Error(`no job ${id}`);
    if (['succeeded', 'failed', 'cancelled'].includes(j.status)) return j;
    await new Promise<void>((resolve) => this.waiters.set(id, [...(this.waiters.get(id) ?? []), resolve]));
    return this.jobs.get(id)!;
  }

  start(req: RefitRequest, by: string, trigger: JobRecord['trigger'] = 'manual'): JobRecord {
    if (this.running) throw new HttpProblem(409, `refit job ${this.running} is still running; one refit at a time`);
    const base = this.o.registry.activeVersion();
    if (!base) throw new HttpProblem(409, 'no model is active to refit');
    const source = this.resolveSource(req);
    const exclude = [...req.excludeRanges, ...(req.excludeAlerts ? this.alertIntervals(source, req.site, req.excludeAlerts === 'resolved') : [])];
    const job: JobRecord = {
      id: randomUUID(), kind: 'refit', trigger, by, status: 'queued', phase: 'queued', progress: 0,
      createdAt: new Date().toISOString(), startedAt: null, finishedAt: null, baseVersion: base,
      request: {
        source: req.source.kind === 'csv' ? { kind: 'csv', path: req.source.path, lastSteps: req.source.lastSteps ?? null } : { kind: req.source.kind, lastSteps: req.source.lastSteps ?? null, steps: source.kind === 'table' ? source.table.timestamps.length : null },
        excludeAlerts: req.excludeAlerts, excludedIntervals: exclude.length, warmStart: req.warmStart, autoPromote: req.autoPromote, overrides: req.overrides,
      },
      result: null, error: null,
    };
    this.jobs.set(job.id, job);
    this.log.append(job);
    this.running = job.id;
    const input: RefitInput = {
      jobId: job.id, versionsDir: this.o.registry.versionsDir, activeDir: this.o.registry.dir(base), source,
      lastSteps: req.source.kind === 'csv' ? req.source.lastSteps : undefined,
      exclude, holdoutFraction: this.o.holdoutFraction, warmStart: req.warmStart,
      overrides: { ...this.o.baseOverrides, ...req.overrides }, rule: this.o.rule,
    };
    this.spawn(job, input, req.autoPromote);
    return job;
  }

  cancel(id: string): JobRecord {
    const j = this.jobs.get(id);
    if (!j) throw new HttpProblem(404, `no job ${id}`);
    const w = this.workers.get(id);
    if (!w || (j.status !== 'running' && j.status !== 'queued')) throw new HttpProblem(409, `job ${id} is ${j.status}`);
    this.workers.delete(id);
    this.finish(j, { status: 'cancelled', error: 'cancelled by request (the active model was not changed)' });
    void w.terminate();
    return j;
  }

  async close(): Promise<void> {
    clearInterval(this.timer);
    for (const [id, w] of this.workers) {
      const j = this.jobs.get(id)!;
      this.workers.delete(id);
      this.finish(j, { status: 'cancelled', error: 'cancelled: the service stopped (the active model was not changed)' });
      await w.terminate();
    }
    this.log.close();
  }

  // ------------------------------------------------------------------------------------------

  /** Starts an automatic refit on a site's recent stream steps (the last `lastSteps`); false if it could not. */
  private auto(trigger: 'drift' | 'schedule', site: string, lastSteps?: number): boolean {
    if (this.running || !this.o.live) return false;
    if (this.lastAuto && Date.now() - this.lastAuto < this.o.cooldownMinutes * 60_000) return false;
    try {
      // Resolved alerts are anomalies inside the new regime and stay out; an alert still firing since
      // the drift is the old model's view of the regime change itself, and its steps are what the
      // refit must learn (the hand-over to the promoted version resolves it).
      this.start({ source: { kind: 'stream', site, lastSteps }, excludeAlerts: 'resolved', site, excludeRanges: [], warmStart: this.o.defaultWarmStart, autoPromote: true, overrides: {} }, `auto:${trigger}`, trigger);
      this.lastAuto = Date.now();
      return true;
    } catch {
      return false; // e.g. nothing buffered yet: the next trigger tries again
    }
  }

  /** A job's error as clients see it: the CSV path as they gave it, no other server paths. */
  private publicError(job: JobRecord, error: string): string {
    const src = job.request.source as { kind: string; path?: string };
    const known: Array<[string, string]> = src.kind === 'csv' && src.path ? [[path.resolve(src.path), src.path]] : [];
    return redactPaths(error, known);
  }

  private resolveSource(req: RefitRequest): RefitSource {
    const s = req.source;
    if (s.kind === 'csv') {
      const abs = path.resolve(s.path);
      const ok = this.o.allowedDataDirs.some((d) => abs.startsWith(path.resolve(d) + path.sep));
      if (!ok) throw new HttpProblem(400, 'refit data must lie under an allowed data directory (config refit.dataDirs)', [{ field: 'body.source.path', message: 'not under an allowed data directory (config refit.dataDirs)' }]);
      return { kind: 'csv', path: abs };
    }
    if (s.kind === 'table') return { kind: 'table', table: s.lastSteps ? sliceLast(s.table, s.lastSteps) : s.table };
    if (!this.o.live) throw new HttpProblem(409, 'no live stream is configured (kafka.stepsTopic); give readings or a CSV');
    return { kind: 'table', table: this.o.live.recent(s.site, s.lastSteps) };
  }

  /** Alert intervals overlapping the buffer's time range (firing alerts: until now), false positives excepted. */
  private alertIntervals(source: RefitSource, site: string | undefined, resolvedOnly: boolean): [number, number][] {
    const from = source.kind === 'table' && source.table.timestamps.length ? source.table.timestamps[0] : undefined;
    const to = source.kind === 'table' && source.table.timestamps.length ? source.table.timestamps[source.table.timestamps.length - 1] + 1 : undefined;
    const out: [number, number][] = [];
    let cursor: string | undefined;
    do {
      const page = this.o.alerts.query({ from, to, site, limit: 500, cursor });
      // An alert marked a false positive was normal operation: its steps stay in the training data.
      for (const a of page.items) if (!a.falsePositive && !(resolvedOnly && a.status === 'firing')) out.push([Date.parse(a.startsAt), a.endsAt ? Date.parse(a.endsAt) : Number.MAX_SAFE_INTEGER]);
      cursor = page.nextCursor ?? undefined;
    } while (cursor);
    return out;
  }

  private spawn(job: JobRecord, input: RefitInput, autoPromote: boolean): void {
    const w = startModuleWorker(import.meta.url, 'worker', { workerData: input, env: { ...process.env, GANF_QUIET: '1', GANF_QUIET_BACKEND: '1' } });
    this.workers.set(job.id, w);
    this.update(job, { status: 'running', phase: 'starting', startedAt: new Date().toISOString() });
    w.on('message', (m: { type: 'progress'; phase: string; fraction: number } | { type: 'done'; result: RefitOutput } | { type: 'error'; error: string }) => {
      if (!this.workers.has(job.id)) return; // cancelled
      if (m.type === 'progress') this.update(job, { phase: m.phase, progress: m.fraction });
      else if (m.type === 'error') {
        this.workers.delete(job.id);
        this.finish(job, { status: 'failed', error: `${m.error} (the active model was not changed)` });
      } else {
        this.workers.delete(job.id);
        void this.complete(job, m.result, autoPromote);
      }
    });
    w.on('error', (err) => {
      if (!this.workers.delete(job.id)) return;
      this.finish(job, { status: 'failed', error: `worker crashed: ${err.message} (the active model was not changed)` });
    });
    w.on('exit', (code) => {
      if (!this.workers.delete(job.id)) return;
      this.finish(job, { status: 'failed', error: `worker exited with code ${code} before finishing (the active model was not changed)` });
    });
  }

  private async complete(job: JobRecord, out: RefitOutput, autoPromote: boolean): Promise<void> {
    const reg = this.o.registry;
    try {
      this.update(job, { phase: 'registering', progress: 0.97 });
      if (!(await reg.meta(out.version))) {
        await reg.registerWritten(out.version, { origin: { kind: 'refit', jobId: job.id, parent: job.baseVersion, warmStarted: out.warmStarted, by: job.by }, evaluation: out.evaluation });
      }
      let outcome: 'promoted' | 'candidate' = 'candidate';
      let outcomeReason = out.evaluation.reason;
      if (!out.evaluation.promote) outcomeReason = `kept as candidate: ${out.evaluation.reason}`;
      else if (!autoPromote) outcomeReason = `kept as candidate (autoPromote off); the rule would promote: ${out.evaluation.reason}`;
      else if (reg.activeVersion() !== job.baseVersion) outcomeReason = `kept as candidate: the active model changed from ${job.baseVersion} to ${reg.activeVersion()} during the refit`;
      else if (reg.activeVersion() === out.version) outcomeReason = 'the candidate is identical to the active model';
      else {
        await reg.promote(out.version, { reason: 'refit', by: job.by });
        this.o.metrics?.modelSwaps.inc({ reason: 'refit' });
        outcome = 'promoted';
        outcomeReason = `promoted: ${out.evaluation.reason}`;
      }
      this.finish(job, { status: 'succeeded', phase: 'done', progress: 1, result: { ...out, outcome, outcomeReason } });
    } catch (err) {
      this.finish(job, { status: 'failed', error: `${(err as Error).message} (the active model was not changed)` });
    }
  }

  private finish(job: JobRecord, patch: Partial<JobRecord>): void {
    if (patch.error) patch = { ...patch, error: this.publicError(job, patch.error) };
    this.update(job, { ...patch, finishedAt: new Date().toISOString() });
    if (this.running === job.id) this.running = null;
    const outcome = job.status === 'succeeded' ? job.result!.outcome : job.status;
    this.o.metrics?.refitJobs.inc({ outcome });
    for (const r of this.waiters.get(job.id) ?? []) r();
    this.waiters.delete(job.id);
  }

  private update(job: JobRecord, patch: Partial<JobRecord>): void {
    Object.assign(job, patch);
    this.log.append(job);
  }
}

function sliceLast(t: SeriesTable, n: number): SeriesTable {
  const T = t.timestamps.length;
  const s = Math.max(0, T - n);
  const w = t.sensors.length * t.features.length;
  return { ...t, timestamps: t.timestamps.slice(s), values: t.values.slice(s * w) };
}
