// Readings as they arrive in a request (POST /score, POST /refit) and in the live stream: one
// object per step with a time and a value per sensor (null = missing; an array for D > 1).
// The same schema and the same table checks are used everywhere.
import { z } from 'zod';
import { DataError, type SeriesTable } from '../../data/table.ts';
import { ReadingTime } from '../schemas.ts';

export const ReadingSchema = z.object({
  timestamp: ReadingTime.describe('ISO 8601 with offset, or epoch milliseconds'),
  values: z.record(z.string().min(1), z.union([z.number(), z.null(), z.array(z.number().nullable()).min(1)])).refine((v) => Object.keys(v).length > 0, 'at least one sensor'),
});
export type Reading = z.infer<typeof ReadingSchema>;

/** Readings -> SeriesTable (NaN for missing). Sensors and feature count must agree across readings. */
export function readingsToTable(readings: Reading[], features: string[], field = 'readings'): SeriesTable {
  if (readings.length === 0) throw new DataError({ field, reason: 'no readings' });
  const sensors = Object.keys(readings[0].values);
  const D = features.length;
  const K = sensors.length;
  const T = readings.length;
  const values = new Float32Array(T * K * D);
  const timestamps = new Float64Array(T);
  const known = new Set(sensors);
  readings.forEach((r, t) => {
    timestamps[t] = r.timestamp;
    if (t > 0 && r.timestamp <= timestamps[t - 1]) {
      throw new DataError({ field: `${field}.${t}.timestamp`, reason: `timestamps must be strictly increasing (${new Date(r.timestamp).toISOString()} after ${new Date(timestamps[t - 1]).toISOString()})` });
    }
    const keys = Object.keys(r.values);
    const extra = keys.filter((k) => !known.has(k));
    if (keys.length !== K || extra.length) {
      const missing = sensors.filter((s) => !(s in r.values));
      throw new DataError({ field: `${field}.${t}.values`, reason: `every reading needs the same sensors as the first${missing.length ? `; missing ${missing.join(', ')}` : ''}${extra.length ? `; unexpected ${extra.join(', ')}` : ''}` });
    }
    sensors.forEach((s, k) => {
      const v = r.values[s];
      const arr = Array.isArray(v) ? v : [v];
      if (arr.length !== D) throw new DataError({ field: `${field}.${t}.values.${s}`, reason: `expected ${D} feature value(s) (${features.join(', ')}), got ${arr.length}` });
      arr.forEach((x, d) => {
        values[(t * K + k) * D + d] = x === null ? NaN : x;
      });
    });
  });
  return { timestamps, sensors, features: [...features], values };
}
