import { request as httpRequest } from 'node:http';
import { createServer, connect, type AddressInfo, type Socket } from 'node:net';

/**
 * What the proxy does with a connection (numbered from 1 in the order they arrive): forward it
 * both ways; drop it once the service starts answering (the request reached the service, the
 * answer never reaches the client); or hold the answer back until the service closes.
 */
export type ConnectionFate = 'forward' | 'drop' | 'hold';

export interface LossyProxy {
  /** http://127.0.0.1:port */
  base: string;
  /** Connections dropped so far. */
  readonly dropped: number;
  close(): Promise<void>;
}

/** Every `n`th connection dropped, the others forwarded: deterministic, whatever the timing. */
export const everyNth =
  (n: number) =>
  (connection: number): ConnectionFate =>
    connection % n === 0 ? 'drop' : 'forward';

/**
 * A TCP proxy in front of a service on 127.0.0.1:`port` that loses answers: the request bytes
 * always reach the service, and the fate of each connection decides whether its answer
 * reaches the client.
 */
export async function startLossyProxy(port: number, fate: (connection: number) => ConnectionFate): Promise<LossyProxy> {
  let connections = 0;
  let dropped = 0;
  const sockets = new Set<Socket>();
  const server = createServer((client) => {
    connections += 1;
    const doom = fate(connections);
    const upstream = connect(port, '127.0.0.1');
    for (const socket of [client, upstream]) {
      sockets.add(socket);
      socket.on('close', () => sockets.delete(socket));
      // A reset on one side ends the other: errors are how a lost connection looks here.
      socket.on('error', () => undefined);
    }
    client.pipe(upstream);
    client.on('close', () => upstream.destroy());
    upstream.on('close', () => client.destroy());
    if (doom === 'forward') {
      upstream.pipe(client);
    } else {
      upstream.once('data', () => {
        if (doom === 'drop') {
          dropped += 1;
          client.destroy();
        }
      });
    }
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    base: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    get dropped() {
      return dropped;
    },
    async close() {
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

export interface Answer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  text: string;
}

/** One HTTP request on a connection of its own (no keep-alive): a lost connection loses only this request. */
export function sendOnce(
  base: string,
  method: string,
  path: string,
  headers: Record<string, string>,
  body?: string | Buffer,
): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const outgoing = httpRequest(`${base}${path}`, { method, headers, agent: false }, (response) => {
      let text = '';
      response.setEncoding('utf8');
      response.on('data', (chunk: string) => (text += chunk));
      response.on('end', () => resolve({ status: response.statusCode!, headers: response.headers, text }));
      response.on('error', reject);
    });
    outgoing.on('error', reject);
    outgoing.end(body);
  });
}

/**
 * Sends a request until it is answered, as a client with an Idempotency-Key does: again after a
 * lost connection, and after a 409 while an earlier try still runs. `build` makes each try's
 * headers and body (a multipart body gets a new boundary each time). Answers the answer and the tries.
 *
 * Only lost connections count against the limit. A 409 says an earlier try is still running on
 * the service, which ends on its own; how many 409s that takes depends on the machine's speed,
 * so they are waited out (the test's own timeout bounds the wait).
 */
export async function sendUntilAnswered(
  base: string,
  method: string,
  path: string,
  build: () => { headers: Record<string, string>; body?: string | Buffer },
): Promise<Answer & { tries: number }> {
  let lost = 0;
  for (let tries = 1; ; tries += 1) {
    const { headers, body } = build();
    try {
      const answer = await sendOnce(base, method, path, headers, body);
      if (answer.status !== 409) return { ...answer, tries };
      // The key is in use by an earlier try: a client waits as Retry-After says (here briefly).
      await new Promise((resolve) => setTimeout(resolve, 10));
    } catch {
      // The connection was lost: send it again.
      lost += 1;
      if (lost >= MAX_LOST_CONNECTIONS) {
        throw new Error(`${method} ${path} lost ${lost} connections in ${tries} tries`);
      }
    }
  }
}

const MAX_LOST_CONNECTIONS = 50;
