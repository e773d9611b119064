// Feeding the alert store: `ingestAlert` for one message (the alert model of src/scoring/alert.ts,
// exactly as the stream's alert engine produces it), and the Kafka
// consumer of the alerts topic the streaming pipeline produces to. A message that is not a valid
// alert is dead-lettered (produced to the DLQ topic with the reason in its headers) and counted,
// so one bad message never blocks its partition; offsets are committed only after the batch is
// stored (at-least-once; re-delivered alerts are recognised and change nothing).
import { alertId, parseAlert, AlertParseError } from '../../scoring/alert.ts';
import type { AlertChange, AlertStore, IngestOutcome, StoredAlert } from './store.ts';
import type { ApiMetrics } from '../metrics.ts';
import { ensureTopics, type KafkaClient, type MessageConsumer, type MessageProducer, type OutgoingMessage } from '../../adapters/kafka-client.ts';
import { chunkByBytes, DEFAULT_DEAD_LETTER_MAX_BYTES } from '../../adapters/dead-letter.ts';

/** Dead-lettered alert values are cut to this many bytes (room for key and headers under the default topic limit). */
const DEAD_VALUE_MAX = DEFAULT_DEAD_LETTER_MAX_BYTES - 8192;

/** Validates and stores one alert message; returns the stored instance (as it is after this message) and what changed. */
export function ingestAlert(store: AlertStore, raw: unknown, metrics?: ApiMetrics): { alert: StoredAlert; outcome: IngestOutcome; change: AlertChange | null } {
  const alert = parseAlert(raw);
  const r = store.ingest(alert);
  metrics?.alertsIngested.inc({ outcome: r.outcome });
  return { alert: store.get(alertId(alert))!, ...r };
}

export interface AlertConsumerOptions {
  alertsTopic: string;
  groupId: string;
  deadLetterTopic: string;
  fromBeginning: boolean;
}

export class AlertTopicConsumer {
  private consumer: MessageConsumer | undefined;
  private producer: MessageProducer | undefined;
  /** Messages taken from the topic (valid or not), for tests and /ready. */
  processed = 0;
  lastError: string | null = null;

  constructor(
    private readonly kafka: KafkaClient,
    private readonly store: AlertStore,
    private readonly opts: AlertConsumerOptions,
    private readonly metrics?: ApiMetrics,
  ) {}

  async start(): Promise<void> {
    const admin = await this.kafka.admin();
    try {
      await ensureTopics(admin, [
        { topic: this.opts.alertsTopic, partitions: 1 },
        { topic: this.opts.deadLetterTopic, partitions: 1 },
      ]);
    } finally {
      await admin.close();
    }
    this.producer = await this.kafka.producer();
    this.consumer = await this.kafka.consumer({ groupId: this.opts.groupId, topics: [this.opts.alertsTopic], fromBeginning: this.opts.fromBeginning });
    await this.consumer.run(async (batch) => {
      const dead: OutgoingMessage[] = [];
      for (const m of batch.messages) {
        this.processed++;
        let raw: unknown;
        try {
          raw = JSON.parse(m.value ?? '');
          ingestAlert(this.store, raw, this.metrics);
        } catch (err) {
          const reason = err instanceof AlertParseError || err instanceof SyntaxError ? err.message : `store error: ${(err as Error).message}`;
          if (!(err instanceof AlertParseError || err instanceof SyntaxError)) {
            this.lastError = reason;
            throw err; // a store failure is ours, not the message's: redeliver
          }
          // Cut to fit the topic's default limit: a dead letter the broker refuses would redeliver the batch forever.
          const value = m.rawValue !== undefined ? m.rawValue : m.value === null ? null : Buffer.from(m.value, 'utf8');
          const cut = value !== null && value.length > DEAD_VALUE_MAX;
          dead.push({
            ...(m.key !== null ? { key: m.key.slice(0, 1000) } : {}),
            value: cut ? value.subarray(0, DEAD_VALUE_MAX) : value,
            headers: {
              'x-error': reason.slice(0, 1000), 'x-source-topic': m.topic, 'x-source-partition': String(m.partition), 'x-source-offset': m.offset,
              ...(cut ? { 'x-truncated': String(value.length) } : {}),
            },
          });
        }
      }
      if (dead.length) {
        for (const chunk of chunkByBytes(dead, DEFAULT_DEAD_LETTER_MAX_BYTES)) await this.producer!.send(this.opts.deadLetterTopic, chunk);
        this.metrics?.deadLettered.inc({ topic: this.opts.alertsTopic }, dead.length);
      }
    });
  }

  async close(): Promise<void> {
    await this.consumer?.close().catch(() => {});
    await this.producer?.close().catch(() => {});
  }
}
