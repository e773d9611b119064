/**
 * The streaming core, independent of where messages come from and where results go:
 * message -> contract check -> per-site aligner -> incremental scorer -> alert engine.
 *
 * One StreamProcessor holds the state of the sites it has seen (in the Kafka pipeline: the sites
 * of one input partition). Everything in it is deterministic given the message sequence, and every
 * site's state can be snapshot and restored exactly, so a consumer that restarts from a checkpoint
 * produces the same scores and the same alerts (same fingerprints) as one that never stopped.
 */
import { z } from 'zod';
import type { Detector } from '../detector.ts';
import { parentsOf } from '../dag-learning/extract.ts';
import { encodeSnapshot, messageKey, parseSensorMessage, type AcceptedMessage, type RejectKind } from './messages.ts';
import { HeldMessageSchema, guardEventTime, releaseMessage, type HeldMessage } from './event-time-guard.ts';
import type { IncomingMessage } from '../adapters/kafka-client.ts';
import { AlignerStateSchema, StepAligner, type AlignedStep } from './aligner.ts';
import type { AlignConfig, ProcessorSettings } from './config.ts';
import { StreamScorer, ScorerSnapshotSchema, stepReadings } from '../scoring/stream-scorer.ts';
import type { StepScore } from '../scoring/stream-scorer.ts';
import { RecentSteps, RecentStepsSchema } from './recent-steps.ts';
import { unstandardise } from '../data/preprocess.ts';

/** Sites scored in one model call at most (bounds the chunk tensor). */
const MAX_STREAMS = 64;
import { AlertEngine, AlertEngineStateSchema, type AlertRule } from '../scoring/alert-engine.ts';
import type { Alert } from '../scoring/alert.ts';

// The settings' schema lives in config.ts (a leaf); re-exported for the callers that build a processor.
export { ProcessorSettingsSchema, type ProcessorSettings } from './config.ts';

/** The model version that scored a step, with what a sink needs to write it. */
export interface StepModel {
  version: string;
  threshold: number;
  sensors: readonly string[];
  calibrationMedians: ArrayLike<number>;
}

export interface ScoredStep {
  site: string;
  model: StepModel;
  tsMs: number;
  /** Window score (as batch scoring) and per-sensor window NLL in model order. */
  total: number;
  perSensor: Float32Array;
  /** The step's aligned raw values (model order, sensor units), as scored. */
  values: Float64Array;
  exceed: boolean;
  /** A cell had no reading beyond the carry-forward limit. */
  degraded: boolean;
  /** False for a degraded step, the steps whose score window contains one, and warm-up steps after a cold start: not used for alerting. */
  usable: boolean;
  filled: number;
  missing: string[];
  /** Sensors whose level the drift baseline is taking off at this step (see surprise-baseline.ts). */
  drifted: string[];
  /** Sensors repeating one reading for longer than they did in training (see stuck-readings.ts). */
  stuck: string[];
  restart: boolean;
  /** Latest producer timestamp of the step's readings (-Infinity for an all-filled step). */
  lastArrivalMs: number;
}

export interface SiteOutput {
  steps: ScoredStep[];
  /** `step` is the step that triggered the alert; null for a site's no-data alert (no step triggers it). */
  alerts: Array<{ alert: Alert; step: ScoredStep | null }>;
  /** Steps that could not be scored (non-finite score), as dead letters. */
  rejected: Rejection[];
}

export interface Rejection {
  message: IncomingMessage;
  kind: RejectKind;
  error: string;
}

export interface SiteStats {
  site: string;
  accepted: number;
  late: number;
  duplicates: number;
  replaced: number;
  superseded: number;
  /** Readings for sensors (or features) the model does not know, by name. */
  unknown: Record<string, number>;
  /** Readings for sensors the model dropped (constant in training). */
  ignored: number;
  emittedSteps: number;
  filledCells: number;
  degradedSteps: number;
  restarts: number;
  pendingSteps: number;
  /** Steps whose score was not finite (dead-lettered, scorer restarted). */
  invalidSteps: number;
  /** Messages held as a candidate event-time jump. */
  held: number;
}

export const SiteSnapshotSchema = z.strictObject({
  v: z.literal(1),
  site: z.string(),
  modelVersion: z.string(),
  aligner: AlignerStateSchema,
  scorer: ScorerSnapshotSchema.nullable(),
  alerts: AlertEngineStateSchema,
  taint: z.number().int().min(0),
  unknown: z.record(z.string(), z.number()),
  ignored: z.number(),
  held: z.array(HeldMessageSchema).default([]),
  invalidSteps: z.number().int().min(0).default(0),
  /** Newest record timestamp of the site's messages (null: none yet, or a checkpoint from before silence detection). */
  lastRecordMs: z.number().nullable().default(null),
  /** The site's open steps were closed for silence since its last message. */
  silenceClosed: z.boolean().default(false),
  /** The last raw steps (hand-over warm-up); null in checkpoints from before hand-overs. */
  recent: RecentStepsSchema.nullable().default(null),
});
export type SiteSnapshot = z.infer<typeof SiteSnapshotSchema>;

interface Site {
  name: string;
  aligner: StepAligner;
  scorer: StreamScorer | null;
  alerts: AlertEngine;
  /** Remaining steps not to alert on: the score window still contains a degraded step, or the state is warming up. */
  taint: number;
  unknown: Map<string, number>;
  ignored: number;
  held: HeldMessage[];
  invalidSteps: number;
  /** Newest record timestamp of the site's messages; -Infinity before the first. */
  lastRecordMs: number;
  silenceClosed: boolean;
  recent: RecentSteps;
  /**
   * Alerts not triggered by a step (no data), waiting for the next scoring call, each with the
   * newest step closed before it (its place among the step alerts, whatever the batching).
   */
  notices: Array<{ alert: Alert; afterTsMs: number }>;
}

const EMPTY_OUTPUT = (): SiteOutput => ({ steps: [], alerts: [], rejected: [] });

export class StreamProcessor {
  readonly modelVersion: string;
  private readonly sites = new Map<string, Site>();
  private readonly dirty = new Set<string>();
  private readonly cellOf = new Map<string, number>();
  private readonly dropped: Set<string>;
  private readonly fallback: Float64Array;
  private readonly parents = new Map<string, string[]>();
  private readonly align: AlignConfig;
  private readonly rule: AlertRule;
  private readonly intervalMs: number;
  rejected = 0;
  /** Newest record time seen on the partition (or given by advanceClock). */
  private clockMs = -Infinity;
  /** No site's silence deadline lies before this (a lower bound; the sites are scanned once the clock reaches it). */
  private nextSilenceCheckMs = -Infinity;
  private readonly closeAfterMs: number;
  private readonly noDataAfterMs: number;
  /** Topic and partition of the input (for the dead letters of steps, which have no single message). */
  private origin = { topic: '', partition: -1 };

  private readonly stepModel: StepModel;
  private readonly recentSteps: number;

  constructor(private readonly det: Detector, private readonly settings: ProcessorSettings) {
    this.modelVersion = det.modelVersion;
    this.stepModel = { version: det.modelVersion, threshold: det.threshold.value, sensors: det.sensors, calibrationMedians: det.calibrationMedians };
    this.recentSteps = settings.handover.warmupSteps ?? settings.warmupSteps ?? det.config.model.window;
    this.align = settings.align;
    this.rule = settings.alerts;
    this.intervalMs = det.config.data.intervalMs;
    this.closeAfterMs = settings.silence.closeAfterMs ?? settings.align.allowedLatenessMs + this.intervalMs;
    this.noDataAfterMs = settings.silence.noDataAfterMs ?? Math.max(this.closeAfterMs, 5 * this.intervalMs);
    const D = det.features.length;
    det.sensors.forEach((sensor, k) => {
      det.features.forEach((feature, d) => {
        this.cellOf.set(cellKey(sensor, D === 1 ? undefined : feature), k * D + d);
        this.cellOf.set(cellKey(sensor, feature), k * D + d);
      });
    });
    const kept = new Set(det.sensors);
    this.dropped = new Set(det.scaler.sensors.filter((s) => !kept.has(s)));
    // Standardised 0 in raw units: the training mean.
    this.fallback = new Float64Array(det.sensors.length * D);
    det.scaler.kept.forEach(({ features }, k) => features.forEach((f, d) => {
      this.fallback[k * D + d] = unstandardise(0, f);
    }));
  }

  get siteNames(): string[] {
    return [...this.sites.keys()];
  }

  private site(name: string): Site {
    let s = this.sites.get(name);
    if (!s) {
      s = {
        name,
        aligner: new StepAligner(this.intervalMs, this.fallback.length, this.align, this.fallback),
        scorer: null,
        alerts: this.newAlertEngine(name),
        taint: 0,
        unknown: new Map(),
        ignored: 0,
        held: [],
        invalidSteps: 0,
        lastRecordMs: -Infinity,
        silenceClosed: false,
        recent: new RecentSteps(this.recentSteps, this.fallback.length),
        notices: [],
      };
      this.sites.set(name, s);
    }
    return s;
  }

  private newAlertEngine(site: string): AlertEngine {
    return new AlertEngine(this.rule, {
      site, modelVersion: this.det.modelVersion, intervalMs: this.intervalMs, threshold: this.det.threshold,
      sensors: this.det.sensors, calibrationMedians: this.det.calibrationMedians, parents: (s) => this.parentsOf(s),
    });
  }

  private parentsOf(sensor: string): string[] {
    let p = this.parents.get(sensor);
    if (!p) {
      p = parentsOf(this.det.graph, sensor);
      this.parents.set(sensor, p);
    }
    return p;
  }

  /**
   * Validates and aligns one message. Returns what must be dead-lettered because of it: the
   * message itself if it is bad input, and earlier held messages it shows to be bogus.
   */
  ingest(message: IncomingMessage): Rejection[] {
    this.origin = { topic: message.topic, partition: message.partition };
    const parsed = this.parse(message);
    if (!parsed.ok) return [this.reject(message, parsed.kind, parsed.error)];
    if (message.key !== messageKey(parsed.site)) {
      // Another key lands on another partition, whose consumer would build a second state for the site.
      return [this.reject(message, 'key-mismatch', `record key ${message.key === null ? '(none)' : JSON.stringify(message.key.slice(0, 300))} does not match site ${JSON.stringify(parsed.site)}: the key must be the site`)];
    }
    if (!this.sites.has(parsed.site) && this.sites.size >= this.settings.limits.maxSitesPerPartition) {
      return [this.reject(message, 'site-limit', `partition already holds ${this.sites.size} sites (processing.limits.maxSitesPerPartition); site ${JSON.stringify(parsed.site)} is not tracked`)];
    }
    const site = this.site(parsed.site);
    this.dirty.add(site.name);
    this.heardFrom(site, message.timestampMs, parsed.tsMs);
    const d = guardEventTime(this.settings.eventTime, site.held, site.aligner.maxEventTime, message, parsed.tsMs);
    const out = d.abandoned.map((h) => this.reject(releaseMessage(h), 'ahead-of-site',
      `timestamp ${new Date(h.tsMs).toISOString()} is more than ${this.settings.eventTime.maxAheadMs} ms ahead of site ${site.name}'s data and the jump was not confirmed by ${this.settings.eventTime.jumpConfirmations} messages in a row`));
    if (d.action === 'apply') out.push(...this.apply(site, parsed, message));
    else if (d.action === 'release') {
      for (const h of d.release) {
        const m = releaseMessage(h);
        const p = this.parse(m);
        if (p.ok) out.push(...this.apply(site, p, m));
      }
    }
    return out;
  }

  /** The site sent a message (record time `recordMs`, event time `eventMs`): it is not silent; the partition's clock moves on. */
  private heardFrom(site: Site, recordMs: number, eventMs: number): void {
    if (!this.settings.silence.enabled) return;
    this.notify(site, site.alerts.dataReturned(eventMs));
    site.silenceClosed = false;
    if (recordMs > site.lastRecordMs) site.lastRecordMs = recordMs;
    // The site's next deadline (it may be the only one: the scan below skips sites already acted on).
    this.nextSilenceCheckMs = Math.min(this.nextSilenceCheckMs, site.lastRecordMs + Math.min(this.closeAfterMs, this.noDataAfterMs));
    this.advanceClock(recordMs);
  }

  private notify(site: Site, alerts: Alert[]): void {
    for (const alert of alerts) site.notices.push({ alert, afterTsMs: site.aligner.lastReadyTsMs });
  }

  /**
   * Moves the partition's record-time clock to `nowMs` (never back) and acts on the sites that have
   * been silent for too long. The processor calls it with every accepted message's record
   * timestamp; a caller may call it with a wall-clock "now" for a partition that receives nothing
   * (what that decides depends on arrival time, not on the message sequence alone).
   */
  advanceClock(nowMs: number): void {
    if (!this.settings.silence.enabled || !(nowMs > this.clockMs)) return;
    this.clockMs = nowMs;
    if (nowMs < this.nextSilenceCheckMs) return;
    let next = Infinity;
    for (const s of this.sites.values()) {
      if (!Number.isFinite(s.lastRecordMs)) continue;
      const silentMs = nowMs - s.lastRecordMs;
      if (!s.silenceClosed) {
        if (silentMs >= this.closeAfterMs) {
          s.aligner.closeOpen();
          s.silenceClosed = true;
          this.dirty.add(s.name);
        } else next = Math.min(next, s.lastRecordMs + this.closeAfterMs);
      }
      if (!s.alerts.noDataFiring) {
        if (silentMs >= this.noDataAfterMs) {
          const lastEvent = Number.isFinite(s.aligner.maxEventTime) ? s.aligner.maxEventTime : s.lastRecordMs;
          this.notify(s, s.alerts.noDataSince(lastEvent, s.lastRecordMs, nowMs));
          this.dirty.add(s.name);
        } else next = Math.min(next, s.lastRecordMs + this.noDataAfterMs);
      }
    }
    this.nextSilenceCheckMs = next;
  }

  private parse(m: IncomingMessage) {
    return parseSensorMessage(m.value, { nowMs: m.timestampMs, maxFutureMs: this.settings.maxFutureMs });
  }

  private reject(message: IncomingMessage, kind: RejectKind, error: string): Rejection {
    this.rejected++;
    return { message, kind, error };
  }

  /** Feeds an accepted message's readings to the site's aligner. */
  private apply(site: Site, parsed: AcceptedMessage, message: IncomingMessage): Rejection[] {
    const fresh = new Set<string>();
    for (const r of parsed.readings) {
      if (this.cellOf.has(cellKey(r.sensor, r.feature)) || this.dropped.has(r.sensor)) continue;
      const name = r.feature === undefined ? r.sensor : `${r.sensor}.${r.feature}`;
      if (!site.unknown.has(name)) fresh.add(name);
    }
    const limit = this.settings.limits.maxUnknownSensorsPerSite;
    if (fresh.size > 0 && site.unknown.size + fresh.size > limit) {
      return [this.reject(message, 'unknown-sensor-limit', `site ${site.name} already has ${site.unknown.size} unknown sensor names (processing.limits.maxUnknownSensorsPerSite = ${limit}); new: ${[...fresh].slice(0, 5).join(', ')}`)];
    }
    const source = Number(message.offset);
    for (const r of parsed.readings) {
      const cell = this.cellOf.get(cellKey(r.sensor, r.feature));
      if (cell === undefined) {
        if (this.dropped.has(r.sensor)) site.ignored++;
        else {
          const name = r.feature === undefined ? r.sensor : `${r.sensor}.${r.feature}`;
          site.unknown.set(name, (site.unknown.get(name) ?? 0) + 1);
        }
        continue;
      }
      site.aligner.add(cell, r.tsMs, r.value, message.timestampMs, source);
    }
    return [];
  }

  /** Sites with closed steps waiting to be scored. */
  readySites(): string[] {
    return [...this.sites.values()].filter((s) => s.aligner.hasReady() || s.notices.length > 0).map((s) => s.name);
  }

  /** Scores a site's closed steps (one model call per series segment) and runs its alert engine. */
  scoreSite(name: string): SiteOutput {
    const site = this.sites.get(name);
    if (!site) return EMPTY_OUTPUT();
    return this.withNotices(site, this.scoreSteps(site, site.aligner.takeReady()));
  }

  /**
   * Scores every site with closed steps; sites with the same number of new steps share one model
   * call (their states stacked as parallel streams), which is much cheaper per step than one call
   * per site. Outputs are in site order.
   */
  scoreReady(): Array<SiteOutput & { site: string }> {
    const jobs = [...this.sites.values()].filter((s) => s.aligner.hasReady() || s.notices.length > 0).map((site) => ({ site, steps: site.aligner.takeReady() }));
    const out = new Map<string, SiteOutput>();
    const groups = new Map<number, typeof jobs>();
    for (const job of jobs) {
      if (job.steps.length === 0) {
        out.set(job.site.name, EMPTY_OUTPUT());
        continue;
      }
      // A series restart after the first step needs its own scorer reset: score that site alone.
      if (job.steps.slice(1).some((s) => s.restart)) {
        out.set(job.site.name, this.scoreSteps(job.site, job.steps));
        continue;
      }
      this.startSegment(job.site, job.steps[0]);
      const g = groups.get(job.steps.length);
      if (g) g.push(job);
      else groups.set(job.steps.length, [job]);
    }
    for (const group of groups.values()) {
      for (let i = 0; i < group.length; i += MAX_STREAMS) {
        const part = group.slice(i, i + MAX_STREAMS);
        const scores = StreamScorer.scoreTogether(part.map((j) => j.site.scorer!), part.map((j) => this.rawOf(j.steps)), part.map((j) => this.unreadOf(j.steps)));
        part.forEach((j, b) => {
          const o = EMPTY_OUTPUT();
          this.finish(j.site, j.steps, scores[b], o);
          out.set(j.site.name, o);
        });
      }
    }
    return jobs.map((j) => ({ site: j.site.name, ...this.withNotices(j.site, out.get(j.site.name)!) }));
  }

  /** End of a finite stream: closes every site's open steps and scores them. */
  flush(): SiteOutput[] {
    return [...this.sites.values()].map((s) => {
      this.dirty.add(s.name);
      return this.withNotices(s, this.scoreSteps(s, s.aligner.flush()));
    });
  }

  /**
   * Adds the site's pending no-data notifications, each after the alerts of the steps closed before
   * it and before those of later steps: the order an unbatched run would produce.
   */
  private withNotices(site: Site, out: SiteOutput): SiteOutput {
    let i = 0;
    for (const n of site.notices.splice(0)) {
      while (i < out.alerts.length && !(out.alerts[i].step && out.alerts[i].step!.tsMs > n.afterTsMs)) i++;
      out.alerts.splice(i++, 0, { alert: n.alert, step: null });
    }
    return out;
  }

  /** Before scoring a segment that starts with `first`: a new series gets a fresh scorer. */
  private startSegment(site: Site, first: AlignedStep): void {
    if (first.restart && site.scorer && site.scorer.steps > 0) {
      // A new series after a long gap: the recurrent state no longer describes it.
      site.scorer.dispose();
      site.scorer = null;
      site.taint = 0;
      site.recent.clear();
    }
    if (!site.scorer) {
      site.scorer = new StreamScorer(this.det, { warmStart: this.settings.warmStart });
      if (!this.settings.warmStart) site.taint = Math.max(site.taint, this.settings.warmupSteps ?? this.det.config.model.window);
    }
  }

  private rawOf(segment: AlignedStep[]): Float64Array {
    const cells = this.fallback.length;
    const raw = new Float64Array(segment.length * cells);
    segment.forEach((s, t) => raw.set(s.values, t * cells));
    return raw;
  }

  /** [n*K]: 1 where a sensor's value in the step was carried forward or missing, not read. */
  private unreadOf(segment: AlignedStep[]): Uint8Array {
    const K = this.det.sensors.length;
    const D = this.det.features.length;
    const unread = new Uint8Array(segment.length * K);
    segment.forEach((s, t) => {
      for (const c of s.carried) unread[t * K + Math.floor(c / D)] = 1;
      for (const c of s.missing) unread[t * K + Math.floor(c / D)] = 1;
    });
    return unread;
  }

  private scoreSteps(site: Site, steps: AlignedStep[]): SiteOutput {
    const out = EMPTY_OUTPUT();
    let i = 0;
    while (i < steps.length) {
      let j = i + 1;
      while (j < steps.length && !steps[j].restart) j++;
      this.startSegment(site, steps[i]);
      const segment = steps.slice(i, j);
      this.finish(site, segment, site.scorer!.scoreMany(this.rawOf(segment), this.unreadOf(segment)), out);
      i = j;
    }
    return out;
  }

  /** Usability, output records and the alert engine for scored steps, in step order. */
  private finish(site: Site, segment: AlignedStep[], scores: StepScore[], out: SiteOutput): void {
    const w = this.det.config.model.scoreWindow;
    for (let t = 0; t < segment.length; t++) {
      const s = segment[t];
      const sc = scores[t];
      if (!finiteScore(sc)) {
        // Never written anywhere as a number (InfluxDB refuses non-finite values, and a sink that
        // keeps failing would stall the partition). The step goes to the dead-letter topic with its
        // values; the recurrent state that produced it is discarded and the rest of the segment is
        // scored by a fresh scorer (warm-up applies), so one such value does not blind the site.
        out.rejected.push(this.reject(this.stepMessage(site, s), 'non-finite-score', `step ${new Date(s.tsMs).toISOString()} of site ${site.name} scored ${sc.total}: not finite; the site's scorer restarts`));
        site.invalidSteps++;
        site.scorer?.dispose();
        site.scorer = null;
        const rest = this.scoreSteps(site, segment.slice(t + 1));
        out.steps.push(...rest.steps);
        out.alerts.push(...rest.alerts);
        out.rejected.push(...rest.rejected);
        return;
      }
      if (s.degraded) site.taint = Math.max(site.taint, w);
      const usable = site.taint === 0;
      if (site.taint > 0) site.taint--;
      site.recent.push(s.values);
      const step: ScoredStep = {
        site: site.name, model: this.stepModel, tsMs: s.tsMs, total: sc.total, perSensor: sc.perSensor, values: s.values, exceed: sc.alert, degraded: s.degraded, usable,
        filled: s.filled, missing: s.missing.length ? s.missing.map((c) => this.cellName(c)) : [], drifted: sc.drifted.map((k) => this.det.sensors[k]), stuck: sc.stuck.map((s) => this.det.sensors[s.k]), restart: s.restart, lastArrivalMs: s.lastArrivalMs,
      };
      out.steps.push(step);
      const observation = {
        tsMs: s.tsMs, score: sc.total, exceeds: sc.alert, perSensor: sc.perSensor, surprise: sc.surprise, implausible: sc.implausible, stuck: sc.stuck, usable,
        readings: (ks: readonly number[]) => stepReadings(this.det, sc, ks),
      };
      for (const alert of site.alerts.observe(observation)) out.alerts.push({ alert, step });
    }
  }

  /** A step as a snapshot message (re-producible as is), pointing at the last input record in it. */
  private stepMessage(site: Site, s: AlignedStep): IncomingMessage {
    const D = this.det.features.length;
    const values: Record<string, number | Record<string, number>> = {};
    this.det.sensors.forEach((sensor, k) => {
      if (D === 1) values[sensor] = s.values[k];
      else values[sensor] = Object.fromEntries(this.det.features.map((f, d) => [f, s.values[k * D + d]]));
    });
    const value = encodeSnapshot(site.name, s.tsMs, values);
    return {
      topic: this.origin.topic, partition: this.origin.partition, offset: Number.isFinite(s.lastSource) ? String(s.lastSource) : '-1',
      key: messageKey(site.name), value, rawValue: Buffer.from(value, 'utf8'), timestampMs: Number.isFinite(s.lastArrivalMs) ? s.lastArrivalMs : 0, headers: {},
    };
  }

  private cellName(cell: number): string {
    const D = this.det.features.length;
    const sensor = this.det.sensors[Math.floor(cell / D)];
    return D === 1 ? sensor : `${sensor}.${this.det.features[cell % D]}`;
  }

  /** Sites whose state changed since the last call (what a checkpoint must write). */
  takeDirty(): string[] {
    const d = [...this.dirty];
    this.dirty.clear();
    return d;
  }

  stats(name: string): SiteStats {
    const s = this.sites.get(name);
    if (!s) throw new Error(`unknown site ${name}`);
    const c = s.aligner.counters;
    return {
      site: name, accepted: c.accepted, late: c.late, duplicates: c.duplicates, replaced: c.replaced, superseded: c.superseded,
      unknown: Object.fromEntries(s.unknown), ignored: s.ignored, emittedSteps: c.emittedSteps, filledCells: c.filledCells,
      degradedSteps: c.degradedSteps, restarts: c.restarts, pendingSteps: s.aligner.pendingSteps, invalidSteps: s.invalidSteps, held: s.held.length,
    };
  }

  snapshotSite(name: string): SiteSnapshot {
    const s = this.sites.get(name);
    if (!s) throw new Error(`unknown site ${name}`);
    if (s.notices.length > 0) throw new Error('StreamProcessor.snapshotSite: score the site (take its notifications) first');
    return {
      v: 1, site: name, modelVersion: this.det.modelVersion, aligner: s.aligner.snapshot(), scorer: s.scorer ? s.scorer.snapshot() : null,
      alerts: s.alerts.snapshot(), taint: s.taint, unknown: Object.fromEntries(s.unknown), ignored: s.ignored, held: [...s.held], invalidSteps: s.invalidSteps,
      lastRecordMs: Number.isFinite(s.lastRecordMs) ? s.lastRecordMs : null, silenceClosed: s.silenceClosed, recent: s.recent.snapshot(),
    };
  }

  /** Replaces a site's state by a snapshot (validated; a snapshot of another model version is refused). */
  restoreSite(raw: unknown): void {
    const snap = SiteSnapshotSchema.parse(raw);
    if (snap.modelVersion !== this.det.modelVersion) {
      throw new Error(`checkpoint of site ${snap.site} is for model ${snap.modelVersion}, this pipeline runs ${this.det.modelVersion}`);
    }
    const old = this.sites.get(snap.site);
    old?.scorer?.dispose();
    const alerts = this.newAlertEngine(snap.site);
    alerts.restore(snap.alerts);
    this.sites.set(snap.site, {
      name: snap.site,
      aligner: StepAligner.restore(this.intervalMs, this.align, this.fallback, snap.aligner),
      scorer: snap.scorer ? new StreamScorer(this.det, { snapshot: snap.scorer }) : null,
      alerts,
      taint: snap.taint,
      unknown: new Map(Object.entries(snap.unknown)),
      ignored: snap.ignored,
      held: snap.held,
      invalidSteps: snap.invalidSteps,
      lastRecordMs: snap.lastRecordMs ?? -Infinity,
      silenceClosed: snap.silenceClosed,
      recent: snap.recent ? RecentSteps.restore(this.recentSteps, this.fallback.length, snap.recent) : new RecentSteps(this.recentSteps, this.fallback.length),
      notices: [],
    });
    // The partition's record-time clock is the newest record of its sites; rescan at the next message.
    if (snap.lastRecordMs !== null && snap.lastRecordMs > this.clockMs) this.clockMs = snap.lastRecordMs;
    this.nextSilenceCheckMs = -Infinity;
  }

  /**
   * A processor of model `next` that takes over every site of this one at the current step
   * boundary (call it between batches: every step closed so far was scored by this model, every
   * later one is scored by `next`). Per site: the aligner state (open steps, counters), the event-
   * time guard and the silence state move over as they are; `next`'s recurrent state is warmed up
   * on the site's recent raw steps (scores discarded) and its score window holds their NLLs, so
   * its scores equal batch scoring of the same series started that many steps before the
   * boundary; a site with fewer recent steps than the warm-up is not alerted on until it has
   * them. Every alert open under this model is resolved with `reason` (AlertEngine.resolveAll),
   * delivered with the site's next output. Every site is marked dirty (the checkpoint must name
   * the new version). Throws, changing nothing, if `next` scores other cells, has another interval
   * or cannot stream (a windowed encoder).
   */
  handOver(next: Detector, reason: string): StreamProcessor {
    const same = next.sensors.length === this.det.sensors.length && next.sensors.every((x, i) => x === this.det.sensors[i])
      && next.features.length === this.det.features.length && next.features.every((x, i) => x === this.det.features[i]);
    if (!same) throw new Error(`model ${next.modelVersion} scores other sensors or features than ${this.det.modelVersion}: its sites cannot be handed over`);
    if (next.config.data.intervalMs !== this.intervalMs) throw new Error(`model ${next.modelVersion} has interval ${next.config.data.intervalMs} ms, the stream runs ${this.intervalMs} ms`);
    if (next.config.model.encoder !== 'stateful') throw new Error(`model ${next.modelVersion} uses the windowed encoder; streaming needs model.encoder = "stateful"`);
    const p = new StreamProcessor(next, this.settings);
    try {
      this.moveSites(p, next, reason);
    } catch (err) {
      p.dispose(); // the sites stay with this processor
      throw err;
    }
    return p;
  }

  private moveSites(p: StreamProcessor, next: Detector, reason: string): void {
    // Warm-up first, for every site: nothing of this processor changes until all have succeeded.
    const scorers = new Map<string, StreamScorer>();
    for (const s of this.sites.values()) {
      if (!s.scorer) continue;
      const scorer = new StreamScorer(next);
      p.sites.set(s.name, { ...s, scorer }); // owned by p from here (disposed with it on failure)
      if (s.recent.steps > 0) scorer.scoreMany(s.recent.rows());
      scorers.set(s.name, scorer);
    }
    p.clockMs = this.clockMs;
    p.origin = this.origin;
    p.rejected = this.rejected;
    const width = this.fallback.length;
    for (const s of this.sites.values()) {
      const scorer = scorers.get(s.name) ?? null;
      const taint = scorer ? Math.max(s.taint, p.recentSteps - s.recent.steps) : s.taint;
      const lastEvent = Number.isFinite(s.aligner.maxEventTime) ? s.aligner.maxEventTime : s.lastRecordMs;
      const closing = s.alerts.resolveAll(lastEvent, reason).map((alert) => ({ alert, afterTsMs: s.aligner.lastReadyTsMs }));
      p.sites.set(s.name, {
        ...s,
        aligner: StepAligner.restore(p.intervalMs, p.align, p.fallback, s.aligner.snapshot()),
        scorer,
        alerts: p.newAlertEngine(s.name),
        taint,
        unknown: new Map(s.unknown),
        held: [...s.held],
        recent: RecentSteps.restore(p.recentSteps, width, s.recent.snapshot()),
        notices: [...s.notices, ...closing],
      });
      p.dirty.add(s.name);
    }
  }

  dispose(): void {
    for (const s of this.sites.values()) s.scorer?.dispose();
    this.sites.clear();
  }
}

function finiteScore(sc: StepScore): boolean {
  if (!Number.isFinite(sc.total)) return false;
  for (let i = 0; i < sc.perSensor.length; i++) if (!Number.isFinite(sc.perSensor[i])) return false;
  return true;
}

function cellKey(sensor: string, feature: string | undefined): string {
  return feature === undefined ? sensor : `${sensor}\u0000${feature}`;
}
