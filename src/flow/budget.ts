// Training budget from the data size when the config does not fix one: a few hundred optimiser
// steps are enough for a file of a few thousand rows (early stopping ends sooner when the
// validation NLL stops improving), and a small file must not cost minutes.
const MIN_STEPS = 200;
const MAX_STEPS = 800;
const ROWS_PER_STEP = 8;

export function defaultMaxSteps(trainRows: number): number {
  return Math.min(MAX_STEPS, Math.max(MIN_STEPS, Math.round(trainRows / ROWS_PER_STEP)));
}
