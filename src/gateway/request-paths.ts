import type { IncomingMessage } from 'node:http';
import type { FastifyInstance, FastifyServerOptions } from 'fastify';
import { HttpError, normalizeRequestTarget } from '../http/index.js';

/** Requests whose target had no normal form, with the reason, until `refuseInvalidPaths` answers them. */
const refusals = new WeakMap<IncomingMessage, HttpError>();

/**
 * Server options that give the router, every hook and handler, and the proxy
 * the request's normalised target (`normalizeRequestTarget`) instead of the
 * one sent, so that a request is routed on the path it is forwarded with. A
 * target without a normal form is routed as `/` and refused by
 * `refuseInvalidPaths`, which must be applied to the same instance.
 */
export function normalizedPathOptions(): Pick<FastifyServerOptions, 'rewriteUrl'> {
  return {
    rewriteUrl(request) {
      try {
        return normalizeRequestTarget(request.url ?? '');
      } catch (error) {
        if (!(error instanceof HttpError)) throw error;
        refusals.set(request, error);
        // The router cannot fail on this one, and nothing is answered before the hook refuses it.
        return '/';
      }
    },
  };
}

/**
 * Answers 400 (ERR_PATH_INVALID) for a request whose target
 * `normalizedPathOptions` could not normalise, before any other hook runs.
 * Call it on the root instance before anything else adds a hook.
 */
export function refuseInvalidPaths(app: FastifyInstance): void {
  app.addHook('onRequest', (request, _reply, done) => {
    done(refusals.get(request.raw));
  });
}
