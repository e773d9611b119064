// The calibration split: the last part of the training data, held out from fitting and used for
// early stopping, the per-sensor calibration and the threshold. One rule for GANF and baselines.
import type { GanfConfig } from '../config.ts';

export function validationRows(T: number, c: Pick<GanfConfig, 'model' | 'train'>): number {
  return Math.max(c.model.window * 2, Math.round(T * c.train.validationFraction));
}
