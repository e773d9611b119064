// Shadow scoring: candidate and active model on the same recent held-out steps, compared in raw
// units. Each model scores in its own standardised space, so its NLL is converted to the raw
// readings' density by adding sum(log sd) over its kept sensors and features (the Jacobian of the
// standardisation); otherwise a model fitted on a wider scale would look better for free.
import { seriesNll } from '../../flow/nll.ts';
import { prepareTable, scoreTable } from '../../scoring/score-path.ts';
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

/**
 * Scores `heldOut` with `context` (the steps right before it) as warm-up: the alert rate through
 * the scoring path (what the stream would flag), the density from the same model stage.
 */
export function shadowScore(det: Detector, context: SeriesTable, heldOut: SeriesTable): ShadowScore {
  const { encoder, window } = det.config.model;
  const scored = scoreTable(det, heldOut, { context });
  // Per-step joint NLL (no score window, no range penalty): a density, comparable across models.
  const x = prepareTable(det, heldOut).series;
  const { nll: stepNll, contextSteps } = seriesNll(det.model, x, { encoder, window, adjacency: det.adjacency, context: prepareTable(det, context).series });
  const K = det.sensors.length;
  const jac = logJacobian(det);
  const nll = new Float64Array(x.steps);
  let sum = 0;
  let alerts = 0;
  for (let t = 0; t < x.steps; t++) {
    let joint = 0;
    for (let k = 0; k < K; k++) joint += stepNll[(contextSteps + t) * K + k];
    nll[t] = joint + jac;
    sum += nll[t];
    alerts += scored.alerts[t];
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
