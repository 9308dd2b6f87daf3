export { rateLimitAddress } from './address.js';
export { type CombinedRateLimitResult, consumeAll, type RateLimitCheck } from './consume-all.js';
export { type RateLimitedResponse, rateLimitedResponse, rateLimitHeaders } from './response.js';
