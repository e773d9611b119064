// Consumer lag and dead-letter topic sizes for /metrics, from Kafka's admin API. Our KafkaClient
// seam has no offset queries, so this small probe uses kafkajs' Admin directly behind its own
// interface (a librdkafka-based replacement only has to provide these two calls).
import { Kafka, logLevel } from 'kafkajs';

export interface LagProbe {
  /** Lag per partition: high watermark - committed offset (all of the log if nothing is committed). */
  lag(groupId: string, topic: string): Promise<{ partition: number; lag: number }[]>;
  /** Messages in a topic: sum over partitions of high - low watermark. */
  size(topic: string): Promise<number>;
  /** Lists topics (readiness check). */
  ping(): Promise<number>;
  close(): Promise<void>;
}

export function createLagProbe(brokers: string[], clientId: string): LagProbe {
  const kafka = new Kafka({ clientId: `${clientId}-probe`, brokers, logLevel: logLevel.NOTHING, connectionTimeout: 2000, requestTimeout: 5000, retry: { retries: 1 } });
  const admin = kafka.admin();
  let connected: Promise<void> | null = null;
  const connect = (): Promise<void> => {
    if (!connected) connected = admin.connect().catch((err) => {
      connected = null;
      throw err;
    });
    return connected;
  };
  return {
    async lag(groupId, topic) {
      await connect();
      const [ends, committed] = await Promise.all([admin.fetchTopicOffsets(topic), admin.fetchOffsets({ groupId, topics: [topic] })]);
      const c = new Map((committed[0]?.partitions ?? []).map((p) => [p.partition, Number(p.offset)]));
      return ends.map((e) => {
        const high = Number(e.high);
        const low = Number(e.low);
        const off = c.get(e.partition) ?? -1;
        return { partition: e.partition, lag: Math.max(0, high - (off >= 0 ? off : low)) };
      });
    },
    async size(topic) {
      await connect();
      const ends = await admin.fetchTopicOffsets(topic);
      return ends.reduce((s, e) => s + (Number(e.high) - Number(e.low)), 0);
    },
    async ping() {
      await connect();
      return (await admin.listTopics()).length;
    },
    async close() {
      if (connected) await admin.disconnect().catch(() => {});
      connected = null;
    },
  };
}
