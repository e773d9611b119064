/**
 * Alert state machine for one site's stream of step scores: a pure class (no clocks, no I/O),
 * snapshot-able so it survives restarts.
 *
 * - Fires when at least `fireAfter` of the last `ofLast` usable steps exceed the calibrated
 *   threshold; the alert starts at the first exceeding step of that window.
 * - Resolves once the score has stayed at or below the threshold for `resolveHoldMs` of event
 *   time (rounded up to whole steps); it ends where the last exceeding step ends. Short dips
 *   inside an anomaly therefore do not flap the alert.
 * - Unusable steps (degraded data, or a score window that contains degraded data) neither fire,
 *   nor count toward the hold time: they are skipped.
 *
 * - A site that stopped sending (decided by the processor from record time) has one no-data
 *   alert, fired by noDataSince and resolved by dataReturned.
 *
 * Alerts have Prometheus Alertmanager's fields (labels, annotations, startsAt, endsAt,
 * fingerprint, status) so they can be routed with its tooling. The fingerprint is deterministic:
 * a hash of (model version, site, start step), so reprocessing the same data yields the same id.
 */
import { createHash } from 'node:crypto';
import { z } from 'zod';
import { tailProbability, type ThresholdState } from './threshold.ts';
import type { AlertRule } from './alert-rule.ts';

// The rule's schema lives in a schema-only module so the `serve` config can use it as a leaf.
export { AlertRuleSchema, type AlertRule } from './alert-rule.ts';

export interface TopSensor {
  sensor: string;
  /** Per-sensor window NLL minus the sensor's calibration median (nats). */
  excess: number;
  nll: number;
  /** The sensor's parents in the model's DAG. */
  parents: string[];
}

/** Alertmanager's zero time: endsAt of an alert with no known end. */
export const ZERO_TIME = '0001-01-01T00:00:00Z';

/** One alert notification, as produced to the alerts topic (Alertmanager's alert model + extras). */
export interface AlertMessage {
  fingerprint: string;
  status: 'firing' | 'resolved';
  /** `sensor` is set on per-sensor alerts (implausible values). */
  labels: { alertname: string; site: string; severity: 'critical' | 'warning'; model_version: string; sensor?: string };
  annotations: { summary: string; description: string; top_sensors: string; score: string; tail_probability: string; resolved_reason?: string };
  startsAt: string;
  endsAt: string;
  /** Structured top contributors (the annotation holds the same as text). */
  topSensors: TopSensor[];
  ganf: {
    site: string;
    modelVersion: string;
    startMs: number;
    endMs: number | null;
    peakScore: number;
    peakAt: string;
    tailProbability: number;
    threshold: number;
    exceedingSteps: number;
    usableSteps: number;
  };
}

export interface AlertContext {
  site: string;
  modelVersion: string;
  intervalMs: number;
  threshold: ThresholdState;
  sensors: readonly string[];
  calibrationMedians: ArrayLike<number>;
  parents: (sensor: string) => string[];
}

export interface StepObservation {
  tsMs: number;
  score: number;
  /** Per-sensor window NLL in model order. */
  perSensor: ArrayLike<number>;
  /** Per-sensor calibrated surprise in model order: what top sensors are ranked by. */
  surprise: ArrayLike<number>;
  /** Model-order indices of sensors whose reading was outside its plausible range at this step. */
  implausible: readonly number[];
  usable: boolean;
}

const TopSensorSchema = z.strictObject({ sensor: z.string(), excess: z.number(), nll: z.number(), parents: z.array(z.string()) });
const PeakSchema = z.strictObject({ score: z.number(), tsMs: z.number(), top: z.array(TopSensorSchema) });
export const AlertEngineStateSchema = z.strictObject({
  recent: z.array(z.strictObject({ tsMs: z.number(), exceed: z.boolean(), peak: PeakSchema.nullable() })),
  active: z.strictObject({
    fingerprint: z.string(),
    startMs: z.number(),
    severity: z.enum(['critical', 'warning']),
    peak: PeakSchema,
    lastExceedMs: z.number(),
    below: z.number().int(),
    exceeding: z.number().int(),
    usable: z.number().int(),
  }).nullable(),
  /** Open implausible-value alerts by sensor name. */
  implausible: z.record(z.string(), z.strictObject({ fingerprint: z.string(), startMs: z.number(), lastMs: z.number(), steps: z.number().int() })).default({}),
  /**
   * The open no-data alert: `startMs` is the event time of the site's newest reading before it went
   * silent, `lastRecordMs` that reading's record timestamp, `detectedMs` the record time that showed the silence.
   */
  noData: z.strictObject({ fingerprint: z.string(), startMs: z.number(), lastRecordMs: z.number(), detectedMs: z.number() }).nullable().default(null),
});
export type AlertEngineState = z.infer<typeof AlertEngineStateSchema>;
type Peak = z.infer<typeof PeakSchema>;

type NoData = NonNullable<AlertEngineState['noData']>;

export function noDataFingerprint(modelVersion: string, site: string, startMs: number): string {
  return createHash('sha256').update(`${modelVersion}\u0000${site}\u0000${startMs}\u0000nodata`).digest('hex').slice(0, 16);
}

export function alertFingerprint(modelVersion: string, site: string, startMs: number): string {
  return createHash('sha256').update(`${modelVersion}\u0000${site}\u0000${startMs}`).digest('hex').slice(0, 16);
}

/** "B05 (parents: B04, B06; excess 3.2) | ..." (the annotation format the API parses). */
export function formatTopSensors(top: TopSensor[]): string {
  return top.map((t) => `${t.sensor} (parents: ${t.parents.join(', ')}; excess ${Number(t.excess.toFixed(3))})`).join(' | ');
}

export class AlertEngine {
  private state: AlertEngineState = { recent: [], active: null, implausible: {}, noData: null };
  private readonly holdSteps: number;

  constructor(private readonly rule: AlertRule, private readonly ctx: AlertContext) {
    this.holdSteps = Math.max(1, Math.ceil(rule.resolveHoldMs / ctx.intervalMs));
  }

  get firing(): boolean {
    return this.state.active !== null;
  }

  /** Feeds one step (in step order); returns the notifications it causes. */
  observe(step: StepObservation): AlertMessage[] {
    return [...this.observeImplausible(step), ...this.observeScore(step)];
  }

  /**
   * One alert per sensor whose reading left its plausible range: firing at the first such step,
   * resolved at the first step its reading is back inside (the range is learned from training,
   * see ScalerState; the model only ever saw the clipped value). Degraded steps count too: the
   * reading itself was implausible whatever the rest of the step.
   */
  private observeImplausible(step: StepObservation): AlertMessage[] {
    const open = this.state.implausible;
    const now = new Set(step.implausible.map((k) => this.ctx.sensors[k]));
    const out: AlertMessage[] = [];
    for (const [sensor, a] of Object.entries(open)) {
      if (now.has(sensor)) continue;
      delete open[sensor];
      out.push(this.implausibleMessage(sensor, a, step, 'resolved'));
    }
    for (const k of step.implausible) {
      const sensor = this.ctx.sensors[k];
      const a = open[sensor];
      if (a) {
        a.lastMs = step.tsMs;
        a.steps++;
        continue;
      }
      const opened = { fingerprint: createHash('sha256').update(`${this.ctx.modelVersion}\u0000${this.ctx.site}\u0000${sensor}\u0000${step.tsMs}\u0000implausible`).digest('hex').slice(0, 16), startMs: step.tsMs, lastMs: step.tsMs, steps: 1 };
      open[sensor] = opened;
      out.push(this.implausibleMessage(sensor, opened, step, 'firing'));
    }
    return out;
  }

  private implausibleMessage(sensor: string, a: AlertEngineState['implausible'][string], step: StepObservation, status: 'firing' | 'resolved'): AlertMessage {
    const { site, modelVersion, intervalMs, threshold, sensors, calibrationMedians } = this.ctx;
    const k = sensors.indexOf(sensor);
    const endMs = status === 'resolved' ? a.lastMs + intervalMs : null;
    const top: TopSensor = { sensor, excess: round(step.perSensor[k] - calibrationMedians[k]), nll: round(step.perSensor[k]), parents: this.ctx.parents(sensor) };
    const p = tailProbability(step.score, threshold);
    const text = formatTopSensors([top]);
    return {
      fingerprint: a.fingerprint,
      status,
      labels: { alertname: this.rule.implausibleAlertname, site, severity: 'warning', model_version: modelVersion, sensor },
      annotations: {
        summary: `Implausible value at ${site}: ${sensor} read outside its plausible range`,
        description: `${sensor} read a value outside the range learned from training (widened by data.plausibleMargin) in ${a.steps} step(s) ` +
          `since ${new Date(a.startMs).toISOString()}; the model scored the reading clipped to the range.`,
        top_sensors: text,
        score: String(round(step.score)),
        tail_probability: p.toExponential(3),
      },
      startsAt: new Date(a.startMs).toISOString(),
      endsAt: endMs === null ? ZERO_TIME : new Date(endMs).toISOString(),
      topSensors: [top],
      ganf: {
        site, modelVersion, startMs: a.startMs, endMs, peakScore: step.score, peakAt: new Date(step.tsMs).toISOString(),
        tailProbability: p, threshold: threshold.value, exceedingSteps: a.steps, usableSteps: a.steps,
      },
    };
  }

  /** A no-data alert is open for the site. */
  get noDataFiring(): boolean {
    return this.state.noData !== null;
  }

  /**
   * The site has sent nothing since the record `lastRecordMs` (its newest reading at event time
   * `lastEventMs`), which the record time `nowMs` shows to be too long ago: fires the site's no-data
   * alert, once (nothing while it is open).
   */
  noDataSince(lastEventMs: number, lastRecordMs: number, nowMs: number): AlertMessage[] {
    if (this.state.noData) return [];
    const a: NoData = { fingerprint: noDataFingerprint(this.ctx.modelVersion, this.ctx.site, lastEventMs), startMs: lastEventMs, lastRecordMs, detectedMs: nowMs };
    this.state.noData = a;
    return [this.noDataMessage(a, 'firing', null)];
  }

  /** A reading of the site arrived (event time `eventMs`): resolves the open no-data alert, if any, ending there. */
  dataReturned(eventMs: number): AlertMessage[] {
    const a = this.state.noData;
    if (!a) return [];
    this.state.noData = null;
    return [this.noDataMessage(a, 'resolved', Math.max(eventMs, a.startMs))];
  }

  private noDataMessage(a: NoData, status: 'firing' | 'resolved', endMs: number | null): AlertMessage {
    const { site, modelVersion, threshold } = this.ctx;
    const silentMin = Math.round((a.detectedMs - a.lastRecordMs) / 60_000);
    return {
      fingerprint: a.fingerprint,
      status,
      labels: { alertname: this.rule.noDataAlertname, site, severity: 'warning', model_version: modelVersion },
      annotations: {
        summary: `No data from ${site}`,
        description: `${site} sent no reading for ${silentMin} min of record time after its reading at ${new Date(a.startMs).toISOString()} ` +
          `(record ${new Date(a.lastRecordMs).toISOString()}); its open steps were closed with the missing cells degraded.` +
          (endMs === null ? '' : ` Data returned at ${new Date(endMs).toISOString()}.`),
        top_sensors: '',
        score: '',
        tail_probability: '',
      },
      startsAt: new Date(a.startMs).toISOString(),
      endsAt: endMs === null ? ZERO_TIME : new Date(endMs).toISOString(),
      topSensors: [],
      ganf: {
        site, modelVersion, startMs: a.startMs, endMs, peakScore: 0, peakAt: new Date(a.startMs).toISOString(),
        tailProbability: 1, threshold: threshold.value, exceedingSteps: 0, usableSteps: 0,
      },
    };
  }

  private observeScore(step: StepObservation): AlertMessage[] {
    if (!step.usable) return [];
    const exceed = step.score > this.ctx.threshold.value;
    const a = this.state.active;
    if (a) {
      a.usable++;
      if (exceed) {
        a.below = 0;
        a.exceeding++;
        a.lastExceedMs = step.tsMs;
        if (step.score > a.peak.score) a.peak = this.peakOf(step);
        return [];
      }
      a.below++;
      if (a.below < this.holdSteps) return [];
      this.state = { ...this.state, recent: [], active: null };
      return [this.message(a, 'resolved')];
    }
    const recent = this.state.recent;
    recent.push({ tsMs: step.tsMs, exceed, peak: exceed ? this.peakOf(step) : null });
    if (recent.length > this.rule.ofLast) recent.shift();
    const hits = recent.filter((r) => r.exceed);
    if (hits.length < this.rule.fireAfter) return [];
    let peak = hits[0].peak!;
    for (const h of hits) if (h.peak!.score > peak.score) peak = h.peak!;
    const startMs = hits[0].tsMs;
    const active: NonNullable<AlertEngineState['active']> = {
      fingerprint: alertFingerprint(this.ctx.modelVersion, this.ctx.site, startMs),
      startMs,
      severity: this.severityOf(peak.score),
      peak,
      lastExceedMs: hits[hits.length - 1].tsMs,
      below: recent.length - 1 - recent.lastIndexOf(hits[hits.length - 1]),
      exceeding: hits.length,
      usable: recent.length - recent.indexOf(hits[0]),
    };
    this.state = { ...this.state, recent: [], active };
    return [this.message(active, 'firing')];
  }

  private severityOf(score: number): 'critical' | 'warning' {
    return tailProbability(score, this.ctx.threshold) <= this.rule.criticalTailProbability ? 'critical' : 'warning';
  }

  private peakOf(step: StepObservation): Peak {
    const { sensors, calibrationMedians } = this.ctx;
    const rows = sensors.map((sensor, k) => ({ sensor, nll: step.perSensor[k], excess: step.perSensor[k] - calibrationMedians[k], surprise: step.surprise[k] }));
    rows.sort((x, y) => y.surprise - x.surprise || y.excess - x.excess);
    const top = rows.slice(0, this.rule.topSensors).map((r) => ({
      sensor: r.sensor, excess: round(r.excess), nll: round(r.nll), parents: this.ctx.parents(r.sensor),
    }));
    return { score: step.score, tsMs: step.tsMs, top };
  }

  private message(a: NonNullable<AlertEngineState['active']>, status: 'firing' | 'resolved'): AlertMessage {
    const { site, modelVersion, intervalMs, threshold } = this.ctx;
    const endMs = status === 'resolved' ? a.lastExceedMs + intervalMs : null;
    const p = tailProbability(a.peak.score, threshold);
    const names = a.peak.top.map((t) => t.sensor).join(', ');
    return {
      fingerprint: a.fingerprint,
      status,
      labels: { alertname: this.rule.alertname, site, severity: a.severity, model_version: modelVersion },
      annotations: {
        summary: `Anomaly at ${site} driven by ${names}`,
        description: `GANF score ${round(a.peak.score)} above threshold ${round(threshold.value)} ` +
          `(tail probability ${p.toExponential(2)}) in ${a.exceeding} of ${a.usable} steps since ${new Date(a.startMs).toISOString()}; ` +
          `top sensors at the peak (${new Date(a.peak.tsMs).toISOString()}): ${formatTopSensors(a.peak.top)}`,
        top_sensors: formatTopSensors(a.peak.top),
        score: String(round(a.peak.score)),
        tail_probability: p.toExponential(3),
      },
      startsAt: new Date(a.startMs).toISOString(),
      endsAt: endMs === null ? ZERO_TIME : new Date(endMs).toISOString(),
      topSensors: a.peak.top.map((t) => ({ ...t, parents: [...t.parents] })),
      ganf: {
        site, modelVersion, startMs: a.startMs, endMs, peakScore: a.peak.score, peakAt: new Date(a.peak.tsMs).toISOString(),
        tailProbability: p, threshold: threshold.value, exceedingSteps: a.exceeding, usableSteps: a.usable,
      },
    };
  }

  /**
   * The model scoring this site is being replaced (the stream's hand-over to a new version): every
   * open alert is resolved now with `annotations.resolved_reason`, and the engine is left empty.
   * Anomaly alerts end where their last exceeding step ended, no-data alerts at `endMs`, and
   * implausible-value alerts after their last implausible step (no step of theirs resolved them,
   * so their score annotations are empty). The next model's engine raises its own alerts (new
   * fingerprints: they include the model version) if the condition persists.
   */
  resolveAll(endMs: number, reason: string): AlertMessage[] {
    const out: AlertMessage[] = [];
    if (this.state.active) out.push(this.message(this.state.active, 'resolved'));
    const K = this.ctx.sensors.length;
    for (const [sensor, a] of Object.entries(this.state.implausible)) {
      const m = this.implausibleMessage(sensor, a, { tsMs: a.lastMs, score: 0, perSensor: this.ctx.calibrationMedians, surprise: new Float32Array(K), implausible: [], usable: false }, 'resolved');
      m.annotations.score = '';
      m.annotations.tail_probability = '';
      out.push(m);
    }
    if (this.state.noData) out.push(this.noDataMessage(this.state.noData, 'resolved', Math.max(endMs, this.state.noData.startMs)));
    for (const m of out) m.annotations.resolved_reason = reason;
    this.state = { recent: [], active: null, implausible: {}, noData: null };
    return out;
  }

  snapshot(): AlertEngineState {
    return structuredClone(this.state);
  }

  restore(raw: unknown): void {
    this.state = AlertEngineStateSchema.parse(raw);
  }
}

function round(v: number): number {
  return Math.round(v * 1e4) / 1e4;
}
