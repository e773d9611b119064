// Shadow scoring: candidate and active model on the same recent held-out steps, compared in raw
// units. Each model scores in its own standardised space, so its NLL is converted to the raw
// readings' density by adding sum(log sd) over its kept sensors and features (the Jacobian of the
// standardisation); otherwise a model fitted on a wider scale would look better for free.
import { seriesFrom } from '../../flow/chunks.ts';
import { scoreSeries } from '../../scoring/batch-score.ts';
import { aggregateScores } from '../../scoring/aggregate.ts';
import { surprises } from '../../scoring/calibration.ts';
import { aggregateSpec } from '../../detector.ts';
import { applyScaler } from '../../data/preprocess.ts';
import { fillMissing } from '../../data/missing.ts';
import type { SeriesTable } from '../../data/table.ts';
import type { Detector } from '../../detector.ts';
import type { Evaluation } from '../models/registry.ts';

export interface ShadowScore {
  /** Mean over held-out steps of -log p(x_t | past) in raw units (nats per step). */
  meanNll: number;
  /** Share of held-out steps whose anomaly score (model.scoreAggregate) is above the model's own threshold. */
  alertRate: number;
  steps: number;
  /** Per-step raw NLL (for tests and reports). */
  nll: Float64Array;
}

export function logJacobian(det: Detector): number {
  let s = 0;
  for (const k of det.scaler.kept) for (const f of k.features) s += Math.log(f.std);
  return s;
}

/** Scores `heldOut` with `context` (the steps right before it) as warm-up. */
export function shadowScore(det: Detector, context: SeriesTable, heldOut: SeriesTable): ShadowScore {
  const K = det.sensors.length;
  const D = det.features.length;
  const prep = (t: SeriesTable) => seriesFrom(applyScaler(fillMissing(t, det.config.data.missing).table, det.scaler, { dequantise: 'midpoint' }), K, D);
  const ctx = prep(context);
  const x = prep(heldOut);
  const base = { encoder: det.config.model.encoder, window: det.config.model.window, adjacency: det.adjacency, context: ctx };
  const step = scoreSeries(det.model, x, { ...base, scoreWindow: 1 });
  const windowed = scoreSeries(det.model, x, { ...base, scoreWindow: det.config.model.scoreWindow });
  const scores = aggregateScores(windowed.perSensor, surprises(det.calibration, windowed.perSensor, K), K, aggregateSpec(det));
  const jac = logJacobian(det);
  const nll = new Float64Array(x.steps);
  let sum = 0;
  let alerts = 0;
  for (let t = 0; t < x.steps; t++) {
    nll[t] = step.total[t] + jac;
    sum += nll[t];
    if (scores[t] > det.threshold.value) alerts++;
  }
  return { meanNll: sum / x.steps, alertRate: alerts / x.steps, steps: x.steps, nll };
}

export interface PromotionRule {
  minImprovementNats: number;
  alertRateTolerance: number;
}

export function describeRule(r: PromotionRule): string {
  return `promote iff candidate mean NLL <= active mean NLL - ${r.minImprovementNats} nats/step on the held-out recent steps, ` +
    `and candidate alert rate <= active alert rate + ${r.alertRateTolerance}, and both models score the same sensors`;
}

export function decide(active: Detector, candidate: Detector, a: ShadowScore, c: ShadowScore, rule: PromotionRule): Evaluation {
  const sameSensors = active.sensors.length === candidate.sensors.length && active.sensors.every((s, i) => s === candidate.sensors[i]);
  const improvement = a.meanNll - c.meanNll;
  const better = improvement >= rule.minImprovementNats;
  const calmer = c.alertRate <= a.alertRate + rule.alertRateTolerance;
  const promote = sameSensors && better && calmer && Number.isFinite(c.meanNll);
  const reason = !sameSensors
    ? `the models score different sensors (active ${active.sensors.length}, candidate ${candidate.sensors.length}); NLLs are not comparable`
    : !better
      ? `candidate improves mean NLL by ${improvement.toFixed(3)} nats/step, less than the required ${rule.minImprovementNats}`
      : !calmer
        ? `candidate alert rate ${c.alertRate.toFixed(4)} exceeds the active's ${a.alertRate.toFixed(4)} + ${rule.alertRateTolerance}`
        : `candidate improves mean NLL by ${improvement.toFixed(3)} nats/step and alerts no more often`;
  return {
    heldOutSteps: c.steps, activeVersion: active.modelVersion,
    activeMeanNll: a.meanNll, candidateMeanNll: c.meanNll, activeAlertRate: a.alertRate, candidateAlertRate: c.alertRate,
    rule: describeRule(rule), promote, reason,
  };
}
