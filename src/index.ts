export * from './core/index.js';
export * from './stores/index.js';
