export { type AccessTokenClaims, AccessTokens, type AccessTokensOptions } from './access-tokens.js';
export { MemoryTokenDenylist, RedisTokenDenylist, type TokenDenylist } from './denylist.js';
export { TokenExpiredError, TokenInvalidError, TokenRevokedError } from './errors.js';
export { type SigningAlgorithm, SigningKeys, type SigningKeysOptions } from './signing-keys.js';
