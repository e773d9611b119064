// The live stream as the API sees it: every step `ganf serve` scored, from the steps topic
// (src/stream/step-records.ts, consumed by StepsTopicConsumer). Per site it keeps
//  - the recent raw steps (`live.bufferSteps`): the `stream` refit source, and
//  - a drift monitor (src/api/drift.ts) of the active model version, fed with the usable steps that
//    version scored (score and standardised inputs); a site's monitor starts over when the stream
//    switches that site to another version.
// Steps of a site arrive in step order; one already seen (a redelivery after a restart of this
// service) is skipped, so each step reaches the monitors once.
import { EventEmitter } from 'node:events';
import { standardiseRow } from '../../data/preprocess.ts';
import { DataError, type SeriesTable } from '../../data/table.ts';
import type { StepRecord } from '../../stream/step-records.ts';
import type { Detector } from '../../detector.ts';
import { DriftMonitor, type DriftConfig, type DriftState } from '../drift.ts';
import type { ModelRegistry } from '../models/registry.ts';
import type { ApiMetrics } from '../metrics.ts';

interface BufferedStep {
  tsMs: number;
  modelVersion: string;
  usable: boolean;
  values: Float32Array;
}

interface SiteState {
  site: string;
  lastTsMs: number;
  /** Ring of recent steps, oldest first after `start`. */
  buffer: BufferedStep[];
  start: number;
  drift: DriftMonitor | null;
  /** Steps of this site taken in since this service started (a clock for "steps after the drift"). */
  seq: number;
}

export interface LiveStepsOptions {
  bufferSteps: number;
  drift: DriftConfig;
  metrics?: ApiMetrics;
}

/** Events: 'drift' (site, DriftState) when a site's monitor first fires; 'step' (site, seq) for every step taken in. */
export class LiveSteps extends EventEmitter {
  private readonly sites = new Map<string, SiteState>();
  /** Sensor names of the versions seen (a record carries values only, in its version's order). */
  private readonly sensorsOf = new Map<string, string[]>();
  private readonly featuresOf = new Map<string, string[]>();
  skipped = 0;

  constructor(private readonly registry: ModelRegistry, private readonly opts: LiveStepsOptions) {
    super();
  }

  /** One record of the steps topic. */
  observe(r: StepRecord): void {
    const s = this.site(r.site);
    if (!(r.tsMs > s.lastTsMs)) {
      this.skipped++; // already taken in (redelivered)
      return;
    }
    const det = this.registry.activeDetector();
    if (det) this.learnShape(det);
    s.lastTsMs = r.tsMs;
    s.seq++;
    const values = Float32Array.from(r.values);
    const entry: BufferedStep = { tsMs: r.tsMs, modelVersion: r.modelVersion, usable: r.usable, values };
    if (s.buffer.length < this.opts.bufferSteps) s.buffer.push(entry);
    else {
      s.buffer[s.start] = entry;
      s.start = (s.start + 1) % this.opts.bufferSteps;
    }
    this.opts.metrics?.stepsScored.inc({ model_version: r.modelVersion, source: 'stream' });
    if (det && r.modelVersion === det.modelVersion && r.usable) this.feedDrift(s, det, r, values);
    this.emit('step', s.site, s.seq);
  }

  private feedDrift(s: SiteState, det: Detector, r: StepRecord, values: Float32Array): void {
    if (!s.drift || s.drift.modelVersion !== det.modelVersion) {
      s.drift = new DriftMonitor(this.opts.drift, det.modelVersion, det.threshold, det.sensors, det.features.length, det.config.model.scoreWindow);
      const site = s.site;
      s.drift.on('drift', (state: DriftState) => this.emit('drift', site, state));
    }
    let x: Float32Array;
    try {
      x = standardiseRow(values, det.scaler);
    } catch {
      this.skipped++; // a record whose shape does not fit the model: not for its monitor
      return;
    }
    s.drift.observe(r.score, x, r.tsMs);
  }

  private learnShape(det: Detector): void {
    if (this.sensorsOf.has(det.modelVersion)) return;
    this.sensorsOf.set(det.modelVersion, [...det.sensors]);
    this.featuresOf.set(det.modelVersion, [...det.features]);
  }

  private site(name: string): SiteState {
    let s = this.sites.get(name);
    if (!s) {
      s = { site: name, lastTsMs: -Infinity, buffer: [], start: 0, drift: null, seq: 0 };
      this.sites.set(name, s);
    }
    return s;
  }

  get siteNames(): string[] {
    return [...this.sites.keys()];
  }

  /** Steps of `site` taken in so far (see 'step'). */
  seqOf(site: string): number {
    return this.sites.get(site)?.seq ?? 0;
  }

  /** The drift state of a site's monitor, or of the site that drifted first (any site without `site`); null if none has one. */
  drift(site?: string): (DriftState & { site: string }) | null {
    const states = [...this.sites.values()].filter((s) => s.drift && (site === undefined || s.site === site)).map((s) => ({ site: s.site, ...s.drift!.state() }));
    if (!states.length) return null;
    const drifting = states.filter((s) => s.drifting).sort((a, b) => (a.since ?? '').localeCompare(b.since ?? ''));
    return drifting[0] ?? states[0];
  }

  /**
   * A site's last `lastSteps` buffered steps (all of them without it) as a table, for a refit:
   * steps that were not usable (degraded, warm-up) are left out, and only steps whose version has
   * the sensors of the newest step's version (named by the versions this service has seen active).
   */
  recent(site: string, lastSteps?: number): SeriesTable {
    const s = this.sites.get(site);
    if (!s || !s.buffer.length) throw new DataError({ field: 'source.site', reason: `no steps of site ${JSON.stringify(site)} have arrived from the stream` });
    const ordered = [...s.buffer.slice(s.start), ...s.buffer.slice(0, s.start)];
    const window = lastSteps === undefined ? ordered : ordered.slice(-lastSteps);
    const newest = window[window.length - 1].modelVersion;
    const sensors = this.sensorsOf.get(newest);
    const features = this.featuresOf.get(newest);
    if (!sensors || !features) throw new DataError({ field: 'source.site', reason: `the newest steps of site ${site} were scored by version ${newest}, which this service has not seen active: their sensors are unknown` });
    const same = (v: string) => { const o = this.sensorsOf.get(v); return !!o && o.length === sensors.length && o.every((x, i) => x === sensors[i]); };
    const rows = window.filter((e) => e.usable && same(e.modelVersion));
    const w = sensors.length * features.length;
    const values = new Float32Array(rows.length * w);
    rows.forEach((e, i) => values.set(e.values, i * w));
    return { timestamps: Float64Array.from(rows, (e) => e.tsMs), sensors: [...sensors], features: [...features], values };
  }
}
