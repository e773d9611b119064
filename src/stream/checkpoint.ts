/**
 * Checkpoints of the Kafka pipeline's state, in a compacted "state" topic (a changelog, as Kafka
 * Streams keeps one): input partition p's state lives in state partition p, as
 *   key "<group>|<topic>|pos"         -> the input position covered (next offset) and counters
 *   key "<group>|<topic>|site|<site>" -> one site's aligner, scorer and alert-engine state
 * Each batch writes the records of the sites it changed in the same Kafka transaction as its
 * alerts, its dead letters and its consumer offsets, so state and position never disagree.
 * Restoring reads the state partitions to their end; the last record of each key wins.
 */
import { z } from 'zod';
import type { IncomingMessage, KafkaClient, OutgoingMessage } from '../adapters/kafka-client.ts';
import type { SiteSnapshot } from './processor.ts';

export const PositionSchema = z.strictObject({
  v: z.literal(1),
  groupId: z.string(),
  topic: z.string(),
  partition: z.number().int().min(0),
  /** Next input offset to process: everything before it is reflected in the site states. */
  nextOffset: z.string().regex(/^\d+$/),
  /** The version that scored every step up to nextOffset (the sites' snapshots name it too). */
  modelVersion: z.string(),
  /** Its activation in the registry (the pointer's changedAt); null for a fixed model directory or an older checkpoint. */
  activation: z.string().nullable().default(null),
  deadLetters: z.number().int().min(0),
  updatedAt: z.string(),
});
export type Position = z.infer<typeof PositionSchema>;

export interface PartitionCheckpoint {
  position: Position | null;
  /** Raw site snapshots (validated by StreamProcessor.restoreSite). */
  sites: Map<string, unknown>;
}

/** Topic-level configs of the state topic: compacted, with room for large states. */
export const STATE_TOPIC_CONFIGS: Record<string, string> = {
  'cleanup.policy': 'compact',
  'segment.ms': '600000',
  'min.cleanable.dirty.ratio': '0.1',
  'max.message.bytes': '16777216',
};

function keyPrefix(groupId: string, topic: string): string {
  return `${groupId}|${topic}|`;
}

export function checkpointMessages(position: Position, sites: SiteSnapshot[]): OutgoingMessage[] {
  const prefix = keyPrefix(position.groupId, position.topic);
  return [
    ...sites.map((s) => ({ key: `${prefix}site|${s.site}`, value: JSON.stringify(s), partition: position.partition })),
    { key: `${prefix}pos`, value: JSON.stringify(position), partition: position.partition },
  ];
}

/** Reads the checkpoints of some input partitions (absent ones come back empty). */
export async function readCheckpoints(client: KafkaClient, stateTopic: string, groupId: string, topic: string, partitions: number[], timeoutMs = 60000): Promise<Map<number, PartitionCheckpoint>> {
  const out = new Map<number, PartitionCheckpoint>(partitions.map((p) => [p, { position: null, sites: new Map() }]));
  const prefix = keyPrefix(groupId, topic);
  await client.readToEnd(stateTopic, partitions, (m: IncomingMessage) => {
    if (!m.key?.startsWith(prefix) || m.value === null) return;
    const cp = out.get(m.partition);
    if (!cp) return;
    const rest = m.key.slice(prefix.length);
    if (rest === 'pos') {
      const pos = PositionSchema.parse(JSON.parse(m.value));
      if (pos.partition !== m.partition) throw new Error(`state topic ${stateTopic}: position for partition ${pos.partition} found in partition ${m.partition}`);
      cp.position = pos;
    } else if (rest.startsWith('site|')) {
      cp.sites.set(rest.slice(5), JSON.parse(m.value));
    }
  }, { timeoutMs });
  return out;
}
