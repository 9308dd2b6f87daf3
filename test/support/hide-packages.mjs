// `node --import ./hide-packages.mjs`: the packages named in HIDDEN_PACKAGES (comma-separated)
// resolve as if they were not installed, for tests of what a missing optional driver does.
import { register } from 'node:module';

register(
  `data:text/javascript,${encodeURIComponent(`
const hidden = new Set((process.env.HIDDEN_PACKAGES ?? '').split(',').filter(Boolean));
export async function resolve(specifier, context, next) {
  const name = specifier.startsWith('@') ? specifier.split('/').slice(0, 2).join('/') : specifier.split('/')[0];
  if (hidden.has(name)) {
    const error = new Error("Cannot find package '" + name + "' imported from " + context.parentURL);
    error.code = 'ERR_MODULE_NOT_FOUND';
    throw error;
  }
  return next(specifier, context);
}`)}`,
);
