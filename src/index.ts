export * from './core/index.js';
export * from './http/index.js';
export * from './keys/index.js';
export * from './stores/index.js';
export * from './tokens/index.js';
