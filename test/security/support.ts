import { createHash, randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { connect, type Socket } from 'node:net';
import {
  createGateway,
  type Gateway,
  type GatewayConfigInput,
  parseConfig,
} from '../../src/gateway/index.js';

/**
 * Support for the attack suite: a real gateway in process, real upstreams
 * that record exactly what reached them, and a client that sends bytes as
 * written (fetch and node:http normalise paths and headers; an attacker does not).
 */

/** What one upstream received: the request line's target as sent, and its headers. */
export interface UpstreamHit {
  method: string;
  url: string;
  headers: IncomingHttpHeaders;
  /** Header names and values in arrival order, as node:http received them. */
  rawHeaders: string[];
  body: string;
}

export interface RecordingUpstream {
  url: string;
  hits: UpstreamHit[];
  /** Headers every response of this upstream carries (e.g. a hostile `set-cookie`). */
  responseHeaders: Record<string, string | string[]>;
  /** Connections open now, and the most that were open at once. */
  connections: { open: number; most: number };
  /** Awaited before each answer is written: replace it to hold answers back. */
  beforeAnswer: () => Promise<void>;
  /** Requests whose connection closed before their body ended (the gateway gave up on them). */
  aborted: UpstreamHit[];
  close(): Promise<void>;
}

/** An upstream that records every request and answers 200 JSON `{ upstream, url }`. */
export async function startRecordingUpstream(name = 'upstream'): Promise<RecordingUpstream> {
  const hits: UpstreamHit[] = [];
  const aborted: UpstreamHit[] = [];
  const responseHeaders: Record<string, string | string[]> = {};
  const connections = { open: 0, most: 0 };
  const server: Server = createServer((request, response) => {
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('close', () => {
      if (request.complete) return;
      aborted.push({
        method: request.method ?? '',
        url: request.url ?? '',
        headers: request.headers,
        rawHeaders: request.rawHeaders,
        body: Buffer.concat(chunks).toString('utf8'),
      });
    });
    request.on('end', () => {
      const hit: UpstreamHit = {
        method: request.method ?? '',
        url: request.url ?? '',
        headers: request.headers,
        rawHeaders: request.rawHeaders,
        body: Buffer.concat(chunks).toString('utf8'),
      };
      hits.push(hit);
      void upstream.beforeAnswer().then(() => {
        response.writeHead(200, { 'content-type': 'application/json', ...responseHeaders });
        response.end(JSON.stringify({ upstream: name, url: hit.url }));
      });
    });
  });
  server.on('connection', (socket) => {
    connections.open += 1;
    connections.most = Math.max(connections.most, connections.open);
    socket.on('close', () => {
      connections.open -= 1;
    });
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const upstream: RecordingUpstream = {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    hits,
    responseHeaders,
    connections,
    beforeAnswer: async () => undefined,
    aborted,
    async close() {
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    },
  };
  return upstream;
}

export interface AttackTarget {
  gateway: Gateway;
  /** `http://127.0.0.1:<port>` */
  url: string;
  port: number;
  adminToken: string;
  /** The upstreams, by name, as passed to `startAttackTarget`. */
  upstreams: Record<string, RecordingUpstream>;
  close(): Promise<void>;
}

/**
 * A gateway on an in-memory store with a strong generated admin token, silent
 * logs, and `routes(upstreams)` as its proxy routes; `config` overrides the rest.
 */
export async function startAttackTarget(
  options: {
    upstreams?: string[];
    routes?: (upstreams: Record<string, RecordingUpstream>) => GatewayConfigInput['routes'];
    config?: GatewayConfigInput;
    clock?: () => number;
    /** Receives the gateway's log lines (set `config.logLevel` to see any). */
    logStream?: { write(line: string): void };
  } = {},
): Promise<AttackTarget> {
  const upstreams: Record<string, RecordingUpstream> = {};
  for (const name of options.upstreams ?? ['upstream']) {
    upstreams[name] = await startRecordingUpstream(name);
  }
  const adminToken = randomBytes(32).toString('base64url');
  const gateway = await createGateway(
    parseConfig({
      port: 0,
      store: 'memory:',
      adminToken,
      logLevel: 'silent',
      routes: options.routes?.(upstreams) ?? [],
      ...options.config,
    }),
    {
      ...(options.clock ? { clock: options.clock } : {}),
      ...(options.logStream ? { logStream: options.logStream } : {}),
    },
  );
  const url = await gateway.listen();
  return {
    gateway,
    url,
    port: Number(new URL(url).port),
    adminToken,
    upstreams,
    async close() {
      await gateway.close();
      for (const upstream of Object.values(upstreams)) await upstream.close();
    },
  };
}

export interface RawResponse {
  status: number;
  /** Header names in lower case; repeated headers joined as node:http would not: kept as a list. */
  headers: Record<string, string[]>;
  body: string;
  /** The body parsed as JSON, or undefined when it is not JSON. */
  json: unknown;
}

/**
 * Sends `request` (the whole HTTP/1.1 message, bytes exactly as given) on a
 * new connection and reads one response. The request should say
 * `Connection: close`, or carry a body length, so that the server ends the
 * exchange; the read stops at the end of the first response either way.
 */
export async function rawRequest(
  port: number,
  request: string | Buffer,
  options: { timeout?: number } = {},
): Promise<RawResponse> {
  const socket = connect(port, '127.0.0.1');
  const response = readRawResponse(socket, options);
  socket.write(request);
  return response;
}

/**
 * Reads one response from `socket` (already connected, or connecting), for
 * exchanges that write the request in parts; then destroys the socket.
 */
export async function readRawResponse(
  socket: Socket,
  options: { timeout?: number } = {},
): Promise<RawResponse> {
  socket.setTimeout(options.timeout ?? 10_000);
  const chunks: Buffer[] = [];
  const done = new Promise<void>((resolve, reject) => {
    socket.on('data', (chunk: Buffer) => {
      chunks.push(chunk);
      if (completeResponse(Buffer.concat(chunks))) {
        socket.destroy();
        resolve();
      }
    });
    socket.on('end', resolve);
    socket.on('close', () => resolve());
    socket.on('timeout', () => {
      socket.destroy();
      reject(new Error('no complete response before the timeout'));
    });
    socket.on('error', reject);
  });
  await done;
  const response = parseResponse(Buffer.concat(chunks));
  if (response === null) throw new Error('the connection closed without a response');
  return response;
}

/** A GET (or `method`) for `target` exactly as written, with `headers` lines, closing the connection. */
export function requestText(
  target: string,
  headers: string[] = [],
  options: { method?: string; body?: string } = {},
): string {
  const lines = [
    `${options.method ?? 'GET'} ${target} HTTP/1.1`,
    'Host: 127.0.0.1',
    ...headers,
    'Connection: close',
  ];
  if (options.body !== undefined) lines.push(`Content-Length: ${Buffer.byteLength(options.body)}`);
  return `${lines.join('\r\n')}\r\n\r\n${options.body ?? ''}`;
}

function completeResponse(bytes: Buffer): boolean {
  const parsed = parseHead(bytes);
  if (parsed === null) return false;
  const length = parsed.headers['content-length']?.[0];
  if (length !== undefined) return bytes.length - parsed.bodyStart >= Number(length);
  if (parsed.headers['transfer-encoding']?.some((value) => /chunked/i.test(value)))
    return bytes.subarray(parsed.bodyStart).includes('0\r\n\r\n');
  return false;
}

function parseHead(bytes: Buffer) {
  const end = bytes.indexOf('\r\n\r\n');
  if (end === -1) return null;
  const [statusLine = '', ...lines] = bytes.subarray(0, end).toString('latin1').split('\r\n');
  const status = Number(/^HTTP\/1\.[01] (\d{3})/.exec(statusLine)?.[1]);
  const headers: Record<string, string[]> = {};
  for (const line of lines) {
    const colon = line.indexOf(':');
    const name = line.slice(0, colon).trim().toLowerCase();
    const list = headers[name] ?? [];
    list.push(line.slice(colon + 1).trim());
    headers[name] = list;
  }
  return { status, headers, bodyStart: end + 4 };
}

function parseResponse(bytes: Buffer): RawResponse | null {
  const head = parseHead(bytes);
  if (head === null) return null;
  let body = bytes.subarray(head.bodyStart);
  if (head.headers['transfer-encoding']?.some((value) => /chunked/i.test(value)))
    body = dechunk(body);
  const text = body.toString('utf8');
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    json = undefined;
  }
  return { status: head.status, headers: head.headers, body: text, json };
}

function dechunk(body: Buffer): Buffer {
  const parts: Buffer[] = [];
  let at = 0;
  for (;;) {
    const lineEnd = body.indexOf('\r\n', at);
    if (lineEnd === -1) break;
    const size = Number.parseInt(body.subarray(at, lineEnd).toString('latin1'), 16);
    if (!(size > 0)) break;
    parts.push(body.subarray(lineEnd + 2, lineEnd + 2 + size));
    at = lineEnd + 2 + size + 2;
  }
  return Buffer.concat(parts);
}

/** POSTs `body` as JSON to an admin route with the target's admin token. */
function adminPost(target: AttackTarget, path: string, body: unknown): Promise<Response> {
  return fetch(`${target.url}${path}`, {
    method: 'POST',
    headers: { authorization: `Bearer ${target.adminToken}`, 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
}

/** Adds a user through the admin API (one that already exists is left as it is). */
export async function addUser(
  target: AttackTarget,
  username: string,
  password: string,
  roles: string[] = [],
): Promise<void> {
  const added = await adminPost(target, '/admin/users', { username, password, roles });
  if (added.status !== 201 && added.status !== 409)
    throw new Error(`adding ${username} failed: ${added.status} ${await added.text()}`);
}

/** Creates an API key through the admin API and gives the key, shown this once. */
export async function createApiKey(
  target: AttackTarget,
  body: { owner: string; scopes: string[] },
): Promise<string> {
  const created = await adminPost(target, '/admin/keys', body);
  if (created.status !== 201)
    throw new Error(`creating a key failed: ${created.status} ${await created.text()}`);
  return ((await created.json()) as { key: string }).key;
}

/** Adds a user through the admin API and logs them in: the session cookie pair and CSRF token. */
export async function signIn(
  target: AttackTarget,
  username = 'alice',
  options: { roles?: string[]; password?: string } = {},
): Promise<{ cookie: string; csrfToken: string }> {
  const password = options.password ?? randomBytes(18).toString('base64url');
  await addUser(target, username, password, options.roles);
  const login = await fetch(`${target.url}/auth/login`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ username, password }),
  });
  if (login.status !== 200) throw new Error(`login failed: ${login.status} ${await login.text()}`);
  const setCookie = login.headers.get('set-cookie') ?? '';
  const cookie = setCookie.split(';')[0] ?? '';
  const { csrfToken } = (await login.json()) as { csrfToken: string };
  return { cookie, csrfToken };
}

/**
 * Solves a login proof-of-work challenge as the README documents it, written
 * from the format rather than the gateway's code: the first nonce for which
 * SHA-256 of `<challenge>:<nonce>` starts with `difficulty` zero bits.
 */
export function solveProofOfWork(offered: { challenge: string; difficulty: number }): {
  challenge: string;
  nonce: string;
} {
  for (let counter = 0; ; counter++) {
    const nonce = counter.toString(36);
    const digest = createHash('sha256').update(`${offered.challenge}:${nonce}`).digest();
    if (zeroBitsAtStart(digest) >= offered.difficulty)
      return { challenge: offered.challenge, nonce };
  }
}

function zeroBitsAtStart(digest: Buffer): number {
  const bits = [...digest].map((byte) => byte.toString(2).padStart(8, '0')).join('');
  return bits.indexOf('1') === -1 ? bits.length : bits.indexOf('1');
}

export interface RawConnection {
  /** Writes bytes as given. */
  write(bytes: string | Buffer): void;
  /** The first response, once complete or once the server closes the connection. */
  response: Promise<RawResponse>;
  /** Resolves when the server has closed the connection. */
  closed: Promise<void>;
  destroy(): void;
}

/**
 * A connection for requests sent in steps (a slow client: some bytes, then
 * silence or more later). Unlike `rawRequest`, it leaves closing to the server.
 */
export function openRawConnection(port: number): RawConnection {
  const socket = connect(port, '127.0.0.1');
  const chunks: Buffer[] = [];
  socket.on('data', (chunk: Buffer) => chunks.push(chunk));
  socket.on('error', () => undefined);
  const closed = new Promise<void>((resolve) => socket.once('close', () => resolve()));
  const response = new Promise<RawResponse>((resolve, reject) => {
    const settle = () => {
      const parsed = parseResponse(Buffer.concat(chunks));
      if (parsed !== null && completeResponse(Buffer.concat(chunks))) resolve(parsed);
    };
    socket.on('data', settle);
    socket.once('close', () => {
      const parsed = parseResponse(Buffer.concat(chunks));
      if (parsed === null) reject(new Error('the connection closed without a response'));
      else resolve(parsed);
    });
  });
  return {
    write: (bytes) => {
      if (!socket.destroyed) socket.write(bytes);
    },
    response,
    closed,
    destroy: () => socket.destroy(),
  };
}
