// The API's Prometheus metrics, on prom-client with its default process metrics (CPU, memory,
// event-loop lag, GC, handles). One registry per service instance, so several services in one
// process (tests) do not share series. Gauges that mirror other sources (consumer lag, drift,
// alert counts) are refreshed by collectors at scrape time. prom-client prints labels in the order
// the call site gives them: call sites give them sorted by name, as the exposition always was.
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

export const LATENCY_BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

/** Every metric the API exposes, in one place (names are part of the API: see docs/api.md). */
export class ApiMetrics {
  readonly registry = new Registry();
  private readonly r = [this.registry];
  readonly stepsScored = new Counter({ name: 'ganf_steps_scored_total', help: 'Time steps scored, by source (stream = steps of ganf serve taken in from the steps topic, api = POST /score) and model version', labelNames: ['source', 'model_version'], registers: this.r });
  readonly scoringLatency = new Histogram({ name: 'ganf_scoring_latency_seconds', help: 'Time to score one call (a stream step or a POST /score batch)', labelNames: ['source'], buckets: LATENCY_BUCKETS, registers: this.r });
  readonly alertsIngested = new Counter({ name: 'ganf_alerts_ingested_total', help: 'Alert messages taken in, by outcome (created, updated, unchanged, stale)', labelNames: ['outcome'], registers: this.r });
  readonly alerts = new Gauge({ name: 'ganf_alerts', help: 'Alerts held, by status and severity', labelNames: ['status', 'severity'], registers: this.r });
  readonly alertChanges = new Counter({ name: 'ganf_alert_changes_total', help: 'Alert changes committed (alert updates, acks, false-positive marks)', registers: this.r });
  readonly deadLettered = new Counter({ name: 'ganf_dead_lettered_messages_total', help: 'Messages this service could not process and dead-lettered, by topic', labelNames: ['topic'], registers: this.r });
  readonly deadLetterTopicMessages = new Gauge({ name: 'ganf_dead_letter_topic_messages', help: 'Messages held in each configured dead-letter topic (sum of partition high watermarks)', labelNames: ['topic'], registers: this.r });
  readonly consumerLag = new Gauge({ name: 'ganf_consumer_lag_messages', help: 'Kafka consumer lag (high watermark - committed offset), by group, topic, partition', labelNames: ['group', 'partition', 'topic'], registers: this.r });
  readonly sseClients = new Gauge({ name: 'ganf_sse_clients', help: 'Connected Server-Sent Events clients', registers: this.r });
  readonly webhookDeliveries = new Counter({ name: 'ganf_webhook_deliveries_total', help: 'Webhook delivery attempts, by result (delivered, retry, failed)', labelNames: ['result'], registers: this.r });
  readonly webhookSilenced = new Counter({ name: 'ganf_webhook_silenced_total', help: 'Alert changes not pushed to webhooks because an active silence matched the alert', registers: this.r });
  readonly webhookFailed = new Gauge({ name: 'ganf_webhook_deliveries_failed', help: 'Deliveries that exhausted their retries (kept, see GET /subscriptions/{id}/deliveries)', registers: this.r });
  readonly modelInfo = new Gauge({ name: 'ganf_active_model_info', help: 'The active model version (value 1)', labelNames: ['version'], registers: this.r });
  readonly modelSwaps = new Counter({ name: 'ganf_model_activations_total', help: 'Model activations, by reason (promote, rollback, refit)', labelNames: ['reason'], registers: this.r });
  readonly refitJobs = new Counter({ name: 'ganf_refit_jobs_total', help: 'Refit jobs finished, by outcome (promoted, candidate, failed, cancelled)', labelNames: ['outcome'], registers: this.r });
  readonly drift = new Gauge({ name: 'ganf_drift_detected', help: 'Drift monitor state (1 = drifting), by monitor (ks, page_hinkley, input_mean)', labelNames: ['monitor'], registers: this.r });
  readonly driftKsStatistic = new Gauge({ name: 'ganf_drift_ks_statistic', help: 'Two-sample KS statistic of recent scores against the calibration scores', registers: this.r });
  readonly driftKsPValue = new Gauge({ name: 'ganf_drift_ks_pvalue', help: 'p-value of the KS test (asymptotic)', registers: this.r });
  readonly driftPageHinkley = new Gauge({ name: 'ganf_drift_page_hinkley', help: 'Page-Hinkley statistic on standardised scores', registers: this.r });
  readonly inputMeanShift = new Gauge({ name: 'ganf_input_mean_shift_sd', help: 'Per-sensor mean of standardised recent inputs (training sd units)', labelNames: ['sensor'], registers: this.r });
  readonly streamIngest = new Gauge({ name: 'ganf_stream_ingest', help: 'The streaming pipeline\'s cumulative ingest counters per site (last ganf_ingest point in InfluxDB): accepted readings, late, duplicates, degraded steps, ...', labelNames: ['site', 'counter'], registers: this.r });
  readonly httpDuration = new Histogram({ name: 'ganf_http_request_duration_seconds', help: 'HTTP request duration, by route and status class', labelNames: ['route', 'method', 'status'], buckets: LATENCY_BUCKETS, registers: this.r });

  private readonly collectors: (() => Promise<void> | void)[] = [];

  constructor() {
    collectDefaultMetrics({ register: this.registry });
  }

  /** Run before every scrape (refresh gauges from their sources). */
  addCollector(fn: () => Promise<void> | void): void {
    this.collectors.push(fn);
  }

  get contentType(): string {
    return this.registry.contentType;
  }

  async render(): Promise<string> {
    for (const c of this.collectors) {
      try {
        await c();
      } catch {
        // A source that cannot be read leaves its gauges as they were; /ready reports the source.
      }
    }
    return this.registry.metrics();
  }
}
