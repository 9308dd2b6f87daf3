import { once } from 'node:events';
import { createServer, type Socket, connect as tcpConnect } from 'node:net';

/**
 * A TCP proxy in front of a store, to break the network between a gateway
 * and its store on purpose.
 *
 * - `pass()`: bytes flow both ways as they arrive.
 * - `delay(ms)`: each chunk is held `ms` before it is forwarded, in order.
 * - `blackHole()`: connections are still accepted and read, but nothing is
 *   forwarded either way and no new connection reaches the store: a server
 *   that hangs, or a partition that drops packets.
 *
 * Healing (`pass()` or `delay()` after `blackHole()`) resets the connections
 * that lost bytes in the black hole. Real TCP never delivers a stream with a
 * hole in it: after a partition the bytes are retransmitted or the connection
 * times out, and a reset is the second of those.
 */
export interface TcpProxy {
  /** The port the proxy listens on, on 127.0.0.1. */
  port: number;
  pass(): void;
  delay(ms: number): void;
  blackHole(): void;
  close(): Promise<void>;
}

type Mode = { kind: 'pass' } | { kind: 'delay'; ms: number } | { kind: 'black-hole' };

interface Link {
  client: Socket;
  upstream: Socket | null;
  /** Bytes were dropped on this link: it cannot carry a sound stream any more. */
  holed: boolean;
  destroy(): void;
}

/** Starts a proxy to `targetHost:targetPort`, passing traffic until told otherwise. */
export async function startTcpProxy(targetHost: string, targetPort: number): Promise<TcpProxy> {
  let mode: Mode = { kind: 'pass' };
  const links = new Set<Link>();

  const server = createServer((client) => {
    const link: Link = {
      client,
      upstream: null,
      holed: mode.kind === 'black-hole',
      destroy() {
        links.delete(link);
        client.destroy();
        link.upstream?.destroy();
      },
    };
    links.add(link);
    client.on('error', () => link.destroy()).on('close', () => link.destroy());
    if (link.holed) {
      client.resume(); // read and drop, so the sender never sees back-pressure
      return;
    }
    const upstream = tcpConnect(targetPort, targetHost);
    link.upstream = upstream;
    upstream.on('error', () => link.destroy()).on('close', () => link.destroy());
    forward(client, upstream, link);
    forward(upstream, client, link);
  });

  /** Copies `from` to `to` under the mode in force when each chunk arrives, keeping the order. */
  function forward(from: Socket, to: Socket, link: Link) {
    let releaseAfter = 0;
    from.on('data', (chunk: Buffer) => {
      if (mode.kind === 'black-hole' || link.holed) {
        link.holed = true;
        return;
      }
      if (mode.kind === 'pass' && releaseAfter <= Date.now()) {
        to.write(chunk);
        return;
      }
      // A chunk never overtakes one held before it, even when the delay shrinks.
      releaseAfter = Math.max(releaseAfter, Date.now() + (mode.kind === 'delay' ? mode.ms : 0));
      setTimeout(() => {
        if (!link.holed && !to.destroyed) to.write(chunk);
      }, releaseAfter - Date.now());
    });
  }

  function heal(next: Mode) {
    mode = next;
    for (const link of links) if (link.holed) link.destroy();
  }

  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const address = server.address();
  if (address === null || typeof address === 'string') throw new Error('proxy has no port');
  return {
    port: address.port,
    pass: () => heal({ kind: 'pass' }),
    delay: (ms) => heal({ kind: 'delay', ms }),
    blackHole: () => {
      mode = { kind: 'black-hole' };
      // A link is holed once a byte is dropped; one quiet throughout the outage stays sound.
    },
    async close() {
      for (const link of links) link.destroy();
      server.close();
      await once(server, 'close');
    },
  };
}
