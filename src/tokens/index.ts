export { type AccessTokenClaims, AccessTokens, type AccessTokensOptions } from './access-tokens.js';
export type { TokenDenylist } from './denylist.js';
export {
  RefreshTokenInvalidError,
  RefreshTokenReusedError,
  TokenExpiredError,
  TokenInvalidError,
  TokenRevokedError,
} from './errors.js';
export {
  type ContextIdentity,
  type HeaderSource,
  IDENTITY_CONTEXT_HEADER,
  type IdentityContext,
  IdentityContextError,
  IdentityContextKeysUnavailableError,
  IdentityContexts,
  type IdentityContextsOptions,
  type IdentityVia,
  identityFromRequest,
  type VerifyIdentityContextOptions,
  verifyIdentityContext,
} from './identity-context.js';
export { REVOKED_JTI_COLLECTION, RecordTokenDenylist } from './record-denylist.js';
export {
  REFRESH_FAMILY_COLLECTION,
  RecordRefreshFamilyStore,
} from './record-refresh-family-store.js';
export type { RefreshFamily, RefreshFamilyStore } from './refresh-family-store.js';
export {
  type IssuedRefreshToken,
  RefreshTokens,
  type RefreshTokensOptions,
} from './refresh-tokens.js';
export {
  checkSigningJwk,
  type SigningAlgorithm,
  SigningKeys,
  type SigningKeysOptions,
} from './signing-keys.js';
