export {
  ApiKeys,
  type ApiKeysOptions,
  type CreateApiKeyInput,
  type IssuedApiKey,
  type RotateApiKeyOptions,
} from './api-keys.js';
export {
  ApiKeyInvalidError,
  ApiKeyNotFoundError,
  type ApiKeyRefusal,
  ApiKeyScopeError,
} from './errors.js';
export { isApiKeyLike, isPrefix } from './key-format.js';
export { API_KEY_SCOPES, isScope, type Scope } from './scopes.js';
export { type ApiKeyInfo, KEY_COLLECTION } from './stored-key.js';
export type { ApiKeyPrincipal } from './verified-cache.js';
