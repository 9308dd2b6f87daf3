import { randomBytes } from 'node:crypto';
import { SigningKeys } from '../tokens/index.js';

/** A secret as `refreshSecret` takes it: 32 bytes from the CSPRNG, base64url. */
export function generateRefreshSecret(): string {
  return randomBytes(32).toString('base64url');
}

/**
 * What every gateway serving one store must share, in the form the config
 * takes it: `signingKey` (a private Ed25519 JWK as JSON) and `refreshSecret`.
 */
export async function generateFleetSecrets(): Promise<{
  signingKey: string;
  refreshSecret: string;
}> {
  return {
    signingKey: JSON.stringify(await SigningKeys.generatePrivateJwk()),
    refreshSecret: generateRefreshSecret(),
  };
}
