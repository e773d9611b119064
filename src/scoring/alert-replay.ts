// The anomaly alerts a scored series would have raised in the stream: its exceedances replayed
// through the stream's own AlertEngine and alert rule, so a backtest counts what an operator would
// have been sent (an isolated exceeding step raises nothing; one incident with short dips is one
// alert), not runs of raw exceedances.
import { AlertEngine, AlertRuleSchema, type AlertRule, type StepObservation } from './alert-engine.ts';
import type { Alert } from './alert.ts';
import type { AlertEpisode } from './metrics.ts';
import type { ThresholdState } from './threshold.ts';

/** The rule `ganf serve` applies when its config names none. */
export const DEFAULT_ALERT_RULE: AlertRule = AlertRuleSchema.parse({});

/**
 * Episodes in step indices: `start` is the alert's startsAt (the first exceeding step of the window
 * that fired it), `fired` the step at which it was sent, `end` (exclusive) its endsAt (the end of its
 * last exceeding step; an alert still open after the last step ends there too). Every step counts
 * as usable: a table has no late records or gap-filled warm-up to skip. Steps are `intervalMs` apart
 * as the stream sees them (the resolve hold is event time), timestamps strictly increasing.
 */
export function replayAlerts(
  scores: ArrayLike<number>, exceed: ArrayLike<number>, timestamps: ArrayLike<number>,
  threshold: ThresholdState, intervalMs: number, rule: AlertRule = DEFAULT_ALERT_RULE,
): AlertEpisode[] {
  const T = scores.length;
  if (exceed.length !== T || timestamps.length !== T) throw new RangeError(`scores (${T}), exceed (${exceed.length}) and timestamps (${timestamps.length}) differ in length`);
  if (!(intervalMs > 0)) throw new RangeError(`intervalMs must be > 0, got ${intervalMs}`);
  const engine = new AlertEngine(rule, {
    site: 'backtest', modelVersion: 'backtest', intervalMs, threshold, sensors: [], calibrationMedians: [], parents: () => [],
  });
  const indexOf = (iso: string) => {
    const ms = Date.parse(iso);
    // The first step at or after ms (alert times are whole milliseconds).
    let lo = 0;
    let hi = T;
    while (lo < hi) {
      const m = (lo + hi) >> 1;
      if (timestamps[m] < ms - 0.5) lo = m + 1;
      else hi = m;
    }
    return lo;
  };
  const episodes: AlertEpisode[] = [];
  let open: { start: number; fired: number } | null = null;
  const take = (alerts: Alert[], t: number) => {
    for (const a of alerts) {
      if (a.labels.alertname !== rule.alertname) continue;
      if (a.status === 'firing') open = { start: indexOf(a.startsAt), fired: t };
      else if (open) {
        episodes.push({ ...open, end: Math.min(T, indexOf(a.endsAt!)) });
        open = null;
      }
    }
  };
  for (let t = 0; t < T; t++) {
    const step: StepObservation = {
      tsMs: timestamps[t], score: scores[t], exceeds: exceed[t] === 1, perSensor: [], surprise: [], implausible: [], usable: true, readings: () => [],
    };
    take(engine.observe(step), t);
  }
  take(engine.resolveAll(timestamps[T - 1] + intervalMs, 'end of data'), T - 1);
  return episodes;
}
