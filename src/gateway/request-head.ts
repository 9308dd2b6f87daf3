import type { FastifyInstance, FastifyRequest } from 'fastify';
import { HttpError } from '../http/index.js';
import { isValidHost } from './host-header.js';

export interface RequestHeadOptions {
  /** Most header lines a request may carry, repeats included; more is a 431. */
  maxHeaders: number;
}

/**
 * Refuses, before any route runs (proxied or not), a request whose head the
 * gateway will not pass on: more header lines than `maxHeaders` (431
 * ERR_HEADERS_TOO_MANY), or not exactly one well-formed Host (400
 * ERR_HOST_INVALID), also when `trustProxy` takes the host from
 * X-Forwarded-Host. Call it on the root instance.
 */
export function registerRequestHeadChecks(app: FastifyInstance, options: RequestHeadOptions): void {
  const { maxHeaders } = options;
  app.addHook('onRequest', (request, _reply, done) => {
    // Lines, not names: repeats of one name count, since each one takes a slot at the upstream.
    if (request.raw.rawHeaders.length / 2 > maxHeaders) {
      done(
        new HttpError(
          'ERR_HEADERS_TOO_MANY',
          `a request may carry at most ${maxHeaders} header lines`,
        ),
      );
    } else if (!hasOneValidHost(request)) {
      done(new HttpError('ERR_HOST_INVALID', 'the Host header must be one valid host[:port]'));
    } else done();
  });
}

function hasOneValidHost(request: FastifyRequest): boolean {
  const raw = request.raw.rawHeaders;
  let hosts = 0;
  for (let at = 0; at < raw.length; at += 2) {
    const name = raw[at] as string;
    if (name.length === 4 && name.toLowerCase() === 'host') hosts += 1;
  }
  // With trustProxy, request.host is the proxy's X-Forwarded-Host; the CSRF origin check reads Host itself.
  return hosts === 1 && isValidHost(request.headers.host) && isValidHost(request.host);
}
