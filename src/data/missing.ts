// Missing-value policy. Every fill is bounded and counted, and a long outage is either an error or
// an explicit row drop: zero-filling would look to the model like a sensor reading 0, which is
// exactly the kind of jump it is trained to call anomalous.
import { z } from 'zod';
import { DataError, filterRows, tableLength, type SeriesTable } from './table.ts';
import { MissingPolicySchema, type MissingPolicy } from './options.ts';

export interface DroppedGap {
  sensor: string;
  feature: string;
  /** Row range [start, end) in the input table. */
  start: number;
  end: number;
  startMs: number;
  endMs: number;
}

export interface MissingReport {
  /** Cells filled per sensor (sensors with no fills are listed with 0). */
  filled: Record<string, number>;
  droppedRows: number;
  /** The gaps that caused rows to be dropped (only with onLongGap: 'drop-rows'). */
  droppedGaps: DroppedGap[];
}

function isoRange(table: SeriesTable, start: number, end: number): string {
  const iso = (t: number) => {
    const ms = table.timestamps[t];
    return Number.isFinite(ms) && Math.abs(ms) < 8.64e15 ? new Date(ms).toISOString() : String(ms);
  };
  return `${iso(start)} .. ${iso(end - 1)} (rows ${start}..${end - 1}, ${end - start} steps)`;
}

/**
 * Fills gaps by the policy. `filledCells` [T*K*D] (the returned table's rows, its cell order) marks
 * the values that were filled in rather than read.
 */
export function fillMissing(table: SeriesTable, policy: MissingPolicy = {}): { table: SeriesTable; report: MissingReport; filledCells: Uint8Array } {
  const parsed = MissingPolicySchema.safeParse(policy);
  if (!parsed.success) throw new DataError({ field: 'policy', reason: z.prettifyError(parsed.error) });
  const { method, limit, onLongGap } = parsed.data;

  const T = tableLength(table);
  const K = table.sensors.length;
  const D = table.features.length;
  const values = table.values.slice();
  const filledCells = new Uint8Array(values.length);
  const filled: Record<string, number> = Object.fromEntries(table.sensors.map((s) => [s, 0]));
  const dropRow = new Uint8Array(T);
  const droppedGaps: DroppedGap[] = [];
  const at = (t: number, k: number, d: number) => (t * K + k) * D + d;
  const label = (k: number, d: number) => (D > 1 ? `${table.sensors[k]}/${table.features[d]}` : table.sensors[k]);

  for (let k = 0; k < K; k++) {
    for (let d = 0; d < D; d++) {
      let t = 0;
      while (t < T) {
        if (!Number.isNaN(values[at(t, k, d)])) {
          t++;
          continue;
        }
        const start = t;
        while (t < T && Number.isNaN(values[at(t, k, d)])) t++;
        const end = t;
        const hasBefore = start > 0;
        const hasAfter = end < T;

        if (method === 'error') {
          throw new DataError({ field: label(k, d), reason: `missing values at ${isoRange(table, start, end)} (policy: error)` });
        }
        if (end - start > limit || (!hasBefore && !hasAfter)) {
          if (onLongGap === 'error') {
            throw new DataError({
              field: label(k, d),
              reason: `gap of ${end - start} steps exceeds the fill limit ${limit}: ${isoRange(table, start, end)}`,
            });
          }
          dropRow.fill(1, start, end);
          droppedGaps.push({
            sensor: table.sensors[k],
            feature: table.features[d],
            start,
            end,
            startMs: table.timestamps[start],
            endMs: table.timestamps[end - 1],
          });
          continue;
        }

        const before = hasBefore ? values[at(start - 1, k, d)] : NaN;
        const after = hasAfter ? values[at(end, k, d)] : NaN;
        for (let s = start; s < end; s++) {
          let v: number;
          // Leading gaps take the first valid value, trailing gaps the last: there is nothing to interpolate to.
          if (!hasBefore) v = after;
          else if (!hasAfter || method === 'ffill') v = before;
          else {
            const w = (table.timestamps[s] - table.timestamps[start - 1]) / (table.timestamps[end] - table.timestamps[start - 1]);
            v = before + w * (after - before);
          }
          values[at(s, k, d)] = v;
          filledCells[at(s, k, d)] = 1;
        }
        filled[table.sensors[k]] += end - start;
      }
    }
  }

  const droppedRows = dropRow.reduce((n, x) => n + x, 0);
  if (droppedRows === 0) {
    const copy: SeriesTable = { timestamps: table.timestamps.slice(), sensors: [...table.sensors], features: [...table.features], values };
    if (table.labels) copy.labels = table.labels.slice();
    return { table: copy, report: { filled, droppedRows, droppedGaps }, filledCells };
  }
  // Fills inside rows that are about to be dropped are not fills the caller will ever see.
  for (let k = 0; k < K; k++) {
    let n = 0;
    for (let t = 0; t < T; t++) {
      if (!dropRow[t]) continue;
      for (let d = 0; d < D; d++) if (Number.isNaN(table.values[at(t, k, d)]) && !Number.isNaN(values[at(t, k, d)])) n++;
    }
    filled[table.sensors[k]] -= n;
  }
  const keep = Array.from(dropRow, (x) => x === 0);
  const kept = filterRows({ ...table, values }, keep);
  const row = K * D;
  const keptCells = new Uint8Array(tableLength(kept) * row);
  let r = 0;
  for (let t = 0; t < T; t++) if (keep[t]) keptCells.set(filledCells.subarray(t * row, (t + 1) * row), r++ * row);
  return { table: kept, report: { filled, droppedRows, droppedGaps }, filledCells: keptCells };
}
