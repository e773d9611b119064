// A small Prometheus registry (text exposition format 0.0.4): counters, gauges and histograms with
// labels, plus collectors that refresh gauges at scrape time (consumer lag, drift, alert counts).
type Labels = Record<string, string>;

function labelKey(labels: Labels): string {
  return Object.keys(labels).sort().map((k) => `${k}="${escapeLabel(labels[k])}"`).join(',');
}

function escapeLabel(v: string): string {
  return v.replace(/\\/g, '\\\\').replace(/\n/g, '\\n').replace(/"/g, '\\"');
}

function fmt(v: number): string {
  if (Number.isNaN(v)) return 'NaN';
  if (v === Infinity) return '+Inf';
  if (v === -Infinity) return '-Inf';
  return String(v);
}

interface Metric {
  render(): string[];
}

export class Counter implements Metric {
  private readonly values = new Map<string, number>();
  constructor(readonly name: string, readonly help: string) {}
  inc(labels: Labels = {}, by = 1): void {
    const k = labelKey(labels);
    this.values.set(k, (this.values.get(k) ?? 0) + by);
  }
  get(labels: Labels = {}): number {
    return this.values.get(labelKey(labels)) ?? 0;
  }
  render(): string[] {
    const out = [`# HELP ${this.name} ${this.help}`, `# TYPE ${this.name} counter`];
    if (this.values.size === 0) out.push(`${this.name} 0`);
    for (const [k, v] of this.values) out.push(`${this.name}${k ? `{${k}}` : ''} ${fmt(v)}`);
    return out;
  }
}

export class Gauge implements Metric {
  private values = new Map<string, number>();
  constructor(readonly name: string, readonly help: string) {}
  set(labels: Labels, v: number): void {
    this.values.set(labelKey(labels), v);
  }
  get(labels: Labels = {}): number | undefined {
    return this.values.get(labelKey(labels));
  }
  /** Replaces every series (for gauges recomputed at scrape time). */
  reset(): void {
    this.values = new Map();
  }
  render(): string[] {
    const out = [`# HELP ${this.name} ${this.help}`, `# TYPE ${this.name} gauge`];
    for (const [k, v] of this.values) out.push(`${this.name}${k ? `{${k}}` : ''} ${fmt(v)}`);
    return out;
  }
}

export class Histogram implements Metric {
  private readonly series = new Map<string, { counts: number[]; sum: number; count: number }>();
  constructor(readonly name: string, readonly help: string, readonly buckets: number[]) {}
  observe(labels: Labels, v: number): void {
    const k = labelKey(labels);
    let s = this.series.get(k);
    if (!s) this.series.set(k, (s = { counts: this.buckets.map(() => 0), sum: 0, count: 0 }));
    for (let i = 0; i < this.buckets.length; i++) if (v <= this.buckets[i]) s.counts[i]++;
    s.sum += v;
    s.count++;
  }
  count(labels: Labels = {}): number {
    return this.series.get(labelKey(labels))?.count ?? 0;
  }
  render(): string[] {
    const out = [`# HELP ${this.name} ${this.help}`, `# TYPE ${this.name} histogram`];
    for (const [k, s] of this.series) {
      const sep = k ? ',' : '';
      this.buckets.forEach((b, i) => out.push(`${this.name}_bucket{${k}${sep}le="${fmt(b)}"} ${s.counts[i]}`));
      out.push(`${this.name}_bucket{${k}${sep}le="+Inf"} ${s.count}`);
      out.push(`${this.name}_sum${k ? `{${k}}` : ''} ${fmt(s.sum)}`);
      out.push(`${this.name}_count${k ? `{${k}}` : ''} ${s.count}`);
    }
    return out;
  }
}

const LATENCY_BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

/** Every metric the API exposes, in one place (names are part of the API: see docs/api.md). */
export class ApiMetrics {
  readonly stepsScored = new Counter('ganf_steps_scored_total', 'Time steps scored, by source (stream = live scorer, api = POST /score) and model version');
  readonly scoringLatency = new Histogram('ganf_scoring_latency_seconds', 'Time to score one call (a stream step or a POST /score batch)', LATENCY_BUCKETS);
  readonly alertsIngested = new Counter('ganf_alerts_ingested_total', 'Alert messages taken in, by outcome (created, updated, unchanged, stale)');
  readonly alerts = new Gauge('ganf_alerts', 'Alerts held, by status and severity');
  readonly alertChanges = new Counter('ganf_alert_changes_total', 'Alert changes committed (alert updates and acks)');
  readonly deadLettered = new Counter('ganf_dead_lettered_messages_total', 'Messages this service could not process and dead-lettered, by topic');
  readonly deadLetterTopicMessages = new Gauge('ganf_dead_letter_topic_messages', 'Messages held in each configured dead-letter topic (sum of partition high watermarks)');
  readonly consumerLag = new Gauge('ganf_consumer_lag_messages', 'Kafka consumer lag (high watermark - committed offset), by group, topic, partition');
  readonly sseClients = new Gauge('ganf_sse_clients', 'Connected Server-Sent Events clients');
  readonly webhookDeliveries = new Counter('ganf_webhook_deliveries_total', 'Webhook delivery attempts, by result (delivered, retry, failed)');
  readonly webhookSilenced = new Counter('ganf_webhook_silenced_total', 'Alert changes not pushed to webhooks because an active silence matched the alert');
  readonly webhookFailed = new Gauge('ganf_webhook_deliveries_failed', 'Deliveries that exhausted their retries (kept, see GET /subscriptions/{id}/deliveries)');
  readonly modelInfo = new Gauge('ganf_active_model_info', 'The active model version (value 1)');
  readonly modelSwaps = new Counter('ganf_model_activations_total', 'Model activations, by reason (promote, rollback, refit)');
  readonly refitJobs = new Counter('ganf_refit_jobs_total', 'Refit jobs finished, by outcome (promoted, candidate, failed, cancelled)');
  readonly drift = new Gauge('ganf_drift_detected', 'Drift monitor state (1 = drifting), by monitor (ks, page_hinkley, input_mean)');
  readonly driftKsStatistic = new Gauge('ganf_drift_ks_statistic', 'Two-sample KS statistic of recent scores against the calibration scores');
  readonly driftKsPValue = new Gauge('ganf_drift_ks_pvalue', 'p-value of the KS test (asymptotic)');
  readonly driftPageHinkley = new Gauge('ganf_drift_page_hinkley', 'Page-Hinkley statistic on standardised scores');
  readonly inputMeanShift = new Gauge('ganf_input_mean_shift_sd', 'Per-sensor mean of standardised recent inputs (training sd units)');
  readonly streamIngest = new Gauge('ganf_stream_ingest', 'The streaming pipeline\'s cumulative ingest counters per site (last ganf_ingest point in InfluxDB): accepted readings, late, duplicates, degraded steps, ...');
  readonly httpDuration = new Histogram('ganf_http_request_duration_seconds', 'HTTP request duration, by route and status class', LATENCY_BUCKETS);

  private readonly collectors: (() => Promise<void> | void)[] = [];

  /** Run before every scrape (refresh gauges from their sources). */
  addCollector(fn: () => Promise<void> | void): void {
    this.collectors.push(fn);
  }

  async render(): Promise<string> {
    for (const c of this.collectors) {
      try {
        await c();
      } catch {
        // A source that cannot be read leaves its gauges as they were; /ready reports the source.
      }
    }
    const all: Metric[] = Object.values(this).filter((v): v is Metric => v instanceof Counter || v instanceof Gauge || v instanceof Histogram);
    return all.flatMap((m) => m.render()).join('\n') + '\n';
  }
}
