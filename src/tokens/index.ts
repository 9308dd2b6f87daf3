export { type AccessTokenClaims, AccessTokens, type AccessTokensOptions } from './access-tokens.js';
export { MemoryTokenDenylist, RedisTokenDenylist, type TokenDenylist } from './denylist.js';
export {
  RefreshTokenInvalidError,
  RefreshTokenReusedError,
  TokenExpiredError,
  TokenInvalidError,
  TokenRevokedError,
} from './errors.js';
export {
  MemoryRefreshFamilyStore,
  RedisRefreshFamilyStore,
  type RefreshFamily,
  type RefreshFamilyStore,
} from './refresh-family-store.js';
export {
  type IssuedRefreshToken,
  RefreshTokens,
  type RefreshTokensOptions,
} from './refresh-tokens.js';
export { type SigningAlgorithm, SigningKeys, type SigningKeysOptions } from './signing-keys.js';
