import type { AnomalyConfig, Finding } from '../types.js';

/**
 * A refresh token used again after it was rotated: a copy of it is in
 * someone else's hands. The token service has already ended the token's
 * family and session when this is reported.
 */
export function refreshReuse(settings: AnomalyConfig['rules']['refresh-reuse']): Finding {
  return {
    rule: 'refresh-reuse',
    reason:
      'a refresh token was used again after it had been rotated; its family and session were ended',
    score: settings.score,
  };
}
