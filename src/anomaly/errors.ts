import { ClawsessionError } from '../core/index.js';

/** The detector's state changed under it on every try: other instances kept winning the race. */
export class AnomalyStateConflictError extends ClawsessionError {
  constructor(collection: string) {
    super(
      'ERR_ANOMALY_STATE_CONFLICT',
      `the anomaly state in ${collection} kept changing under this update; gave up after retrying`,
    );
  }
}
