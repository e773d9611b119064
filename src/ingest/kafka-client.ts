/**
 * Our own small messaging interface, with a kafkajs implementation.
 *
 * The streaming pipeline depends only on the interfaces below (MessageProducer,
 * MessageConsumer, TopicAdmin, KafkaClient), never on kafkajs types: kafkajs is in
 * maintenance mode, and this seam lets a librdkafka-based client replace it later.
 * Such a replacement must keep two behaviours callers rely on:
 *  - keyed messages are partitioned with murmur2 like the Java client (kafkajs'
 *    DefaultPartitioner; in librdkafka set `partitioner: 'murmur2_random'`), so a key
 *    keeps its partition whichever client produced it;
 *  - a consumer's batch handler commits its offsets only after it resolves
 *    (at-least-once delivery).
 */
import { Kafka, Partitioners, logLevel as KafkaLogLevel, type Admin, type Consumer, type Producer } from 'kafkajs';

export interface OutgoingMessage {
  /** Messages with the same key go to the same partition (murmur2, as the Java client). */
  key?: string;
  value: string;
  headers?: Record<string, string>;
}

export interface IncomingMessage {
  topic: string;
  partition: number;
  /** Kafka offsets are 64-bit: kept as decimal strings. */
  offset: string;
  key: string | null;
  value: string | null;
  /** Milliseconds since the epoch (producer create time or broker log-append time). */
  timestampMs: number;
  headers: Record<string, string>;
}

export interface MessageBatch {
  topic: string;
  partition: number;
  messages: IncomingMessage[];
}

export type BatchHandler = (batch: MessageBatch) => Promise<void>;

export interface MessageProducer {
  /** Sends the messages and resolves once the broker acknowledged them (acks=all). */
  send(topic: string, messages: OutgoingMessage[]): Promise<void>;
  close(): Promise<void>;
}

export interface MessageConsumer {
  /**
   * Starts consuming the subscribed topics and resolves once the consumer is running;
   * the handler is then called for each batch (one topic-partition at a time). Offsets of
   * a batch are committed only after its handler resolves; if it throws, the batch is
   * delivered again.
   */
  run(handler: BatchHandler): Promise<void>;
  /** Stops fetching, leaves the group and disconnects. */
  close(): Promise<void>;
}

export interface TopicSpec {
  topic: string;
  partitions: number;
  /** Defaults to 1 (single-node development broker). */
  replicationFactor?: number;
  /** Topic-level configs, e.g. { 'retention.ms': '86400000' }. */
  configs?: Record<string, string>;
}

export interface TopicDescription {
  topic: string;
  partitions: number;
}

export interface TopicAdmin {
  listTopics(): Promise<string[]>;
  /** Creates the topics; resolves to the names actually created (existing ones are skipped). */
  createTopics(topics: TopicSpec[]): Promise<string[]>;
  describeTopics(topics: string[]): Promise<TopicDescription[]>;
  deleteTopics(topics: string[]): Promise<void>;
  close(): Promise<void>;
}

export interface ConsumerOptions {
  groupId: string;
  topics: string[];
  /** Where a group without committed offsets starts: the earliest (true) or only new messages (false, default). */
  fromBeginning?: boolean;
}

export interface KafkaClient {
  producer(): Promise<MessageProducer>;
  consumer(options: ConsumerOptions): Promise<MessageConsumer>;
  admin(): Promise<TopicAdmin>;
}

export type ClientLogLevel = 'nothing' | 'error' | 'warn' | 'info' | 'debug';

export interface KafkaClientOptions {
  /** e.g. ['127.0.0.1:9092'] */
  brokers: string[];
  clientId: string;
  /** Client library logging, to stderr. Default 'warn'. */
  logLevel?: ClientLogLevel;
  /** TCP connect timeout per broker, ms. Default 3000. */
  connectionTimeoutMs?: number;
  /** Request timeout, ms. Default 30000. */
  requestTimeoutMs?: number;
}

const LOG_LEVELS: Record<ClientLogLevel, KafkaLogLevel> = {
  nothing: KafkaLogLevel.NOTHING,
  error: KafkaLogLevel.ERROR,
  warn: KafkaLogLevel.WARN,
  info: KafkaLogLevel.INFO,
  debug: KafkaLogLevel.DEBUG,
};

/** Creates topics that do not exist yet; resolves to the names it created. */
export async function ensureTopics(admin: TopicAdmin, topics: TopicSpec[]): Promise<string[]> {
  for (const spec of topics) {
    if (!Number.isInteger(spec.partitions) || spec.partitions < 1) {
      throw new Error(`topic ${spec.topic}: partitions must be a positive integer, got ${spec.partitions}`);
    }
  }
  const existing = new Set(await admin.listTopics());
  const missing = topics.filter((t) => !existing.has(t.topic));
  if (missing.length === 0) return [];
  return admin.createTopics(missing);
}

/** A KafkaClient backed by kafkajs. */
export function createKafkaClient(options: KafkaClientOptions): KafkaClient {
  if (options.brokers.length === 0) throw new Error('createKafkaClient: at least one broker is required');
  const kafka = new Kafka({
    clientId: options.clientId,
    brokers: options.brokers,
    logLevel: LOG_LEVELS[options.logLevel ?? 'warn'],
    connectionTimeout: options.connectionTimeoutMs ?? 3000,
    requestTimeout: options.requestTimeoutMs ?? 30000,
  });
  return {
    async producer() {
      const producer = kafka.producer({
        createPartitioner: Partitioners.DefaultPartitioner,
        allowAutoTopicCreation: false,
      });
      await producer.connect();
      return new KafkajsProducer(producer);
    },
    async consumer(opts) {
      const consumer = kafka.consumer({ groupId: opts.groupId, allowAutoTopicCreation: false });
      await consumer.connect();
      try {
        await consumer.subscribe({ topics: opts.topics, fromBeginning: opts.fromBeginning ?? false });
      } catch (err) {
        await consumer.disconnect().catch(() => {});
        throw err;
      }
      return new KafkajsConsumer(consumer);
    },
    async admin() {
      const admin = kafka.admin();
      await admin.connect();
      return new KafkajsAdmin(admin);
    },
  };
}

class KafkajsProducer implements MessageProducer {
  constructor(private readonly producer: Producer) {}

  async send(topic: string, messages: OutgoingMessage[]): Promise<void> {
    if (messages.length === 0) return;
    await this.producer.send({
      topic,
      acks: -1,
      messages: messages.map((m) => ({ key: m.key, value: m.value, headers: m.headers })),
    });
  }

  async close(): Promise<void> {
    await this.producer.disconnect();
  }
}

class KafkajsConsumer implements MessageConsumer {
  private running = false;

  constructor(private readonly consumer: Consumer) {}

  async run(handler: BatchHandler): Promise<void> {
    if (this.running) throw new Error('MessageConsumer.run: already running');
    this.running = true;
    await this.consumer.run({
      autoCommit: true,
      eachBatchAutoResolve: false,
      eachBatch: async ({ batch, resolveOffset, heartbeat, isRunning, isStale }) => {
        if (!isRunning() || isStale() || batch.messages.length === 0) return;
        await handler({
          topic: batch.topic,
          partition: batch.partition,
          messages: batch.messages.map((m) => ({
            topic: batch.topic,
            partition: batch.partition,
            offset: m.offset,
            key: m.key === null || m.key === undefined ? null : m.key.toString('utf8'),
            value: m.value === null ? null : m.value.toString('utf8'),
            timestampMs: Number(m.timestamp),
            headers: decodeHeaders(m.headers),
          })),
        });
        resolveOffset(batch.lastOffset());
        await heartbeat();
      },
    });
  }

  async close(): Promise<void> {
    this.running = false;
    await this.consumer.disconnect();
  }
}

class KafkajsAdmin implements TopicAdmin {
  constructor(private readonly admin: Admin) {}

  listTopics(): Promise<string[]> {
    return this.admin.listTopics();
  }

  async createTopics(topics: TopicSpec[]): Promise<string[]> {
    if (topics.length === 0) return [];
    const existing = new Set(await this.admin.listTopics());
    const toCreate = topics.filter((t) => !existing.has(t.topic));
    if (toCreate.length === 0) return [];
    await this.admin.createTopics({
      waitForLeaders: true,
      topics: toCreate.map((t) => ({
        topic: t.topic,
        numPartitions: t.partitions,
        replicationFactor: t.replicationFactor ?? 1,
        configEntries: Object.entries(t.configs ?? {}).map(([name, value]) => ({ name, value })),
      })),
    });
    return toCreate.map((t) => t.topic);
  }

  async describeTopics(topics: string[]): Promise<TopicDescription[]> {
    const { topics: metadata } = await this.admin.fetchTopicMetadata({ topics });
    return metadata.map((t) => ({ topic: t.name, partitions: t.partitions.length }));
  }

  async deleteTopics(topics: string[]): Promise<void> {
    if (topics.length === 0) return;
    await this.admin.deleteTopics({ topics });
  }

  async close(): Promise<void> {
    await this.admin.disconnect();
  }
}

function decodeHeaders(headers: Record<string, unknown> | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [name, raw] of Object.entries(headers ?? {})) {
    const value = Array.isArray(raw) ? raw[raw.length - 1] : raw;
    if (value === undefined || value === null) continue;
    out[name] = Buffer.isBuffer(value) ? value.toString('utf8') : String(value);
  }
  return out;
}
