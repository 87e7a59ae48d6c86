import { createHash } from 'node:crypto';
import { once } from 'node:events';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { Webhook } from 'standardwebhooks';
import { until } from './wait.js';

/** One request a receiver got: the event it carried, and whether its signature verified. */
export interface Received {
  path: string;
  eventId: string;
  /** The how-manieth request for this event, at this receiver (1 for the first). */
  attempt: number;
  /** The body as sent. */
  text: string;
  body: { id: string; object: string; type: string; data: { customer: { id: string } } } & Record<string, unknown>;
  headers: http.IncomingHttpHeaders;
  /** Whether standardwebhooks verified it with the endpoint's secret (set with `secret`). */
  verified: boolean;
  /** What the receiver answered. */
  answer: Answer;
}

/** How a receiver answers a request: a status, a dropped connection, or no answer until `release()`. */
export type Answer = number | 'drop' | 'stall';

export interface WebhookReceiver {
  url: string;
  received: Received[];
  /** The secret deliveries are verified with (the endpoint's, once created). */
  secret?: string;
  /** Lets every stalled request answer 200 (and later ones not stall). */
  release(): void;
  /** Resolves once `count` requests are stalled. */
  stalled(count?: number): Promise<void>;
  close(): Promise<void>;
}

/** Deterministic "random": a number 0..99 from an event id and an attempt. */
export const percentile = (eventId: string, attempt: number): number =>
  createHash('sha256').update(`${eventId}:${attempt}`).digest().readUInt32BE(0) % 100;

/**
 * A real HTTP server on 127.0.0.1 that records every webhook request, verifies its signature with
 * the standardwebhooks package, and answers as `answer` decides (200 by default).
 */
export async function startReceiver(
  answer: (request: Omit<Received, 'answer' | 'verified' | 'text'>) => Answer = () => 200,
): Promise<WebhookReceiver> {
  const received: Received[] = [];
  const attempts = new Map<string, number>();
  const stalledResponses: http.ServerResponse[] = [];
  let released = false;
  const server = http.createServer((request, response) => {
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => {
      const text = Buffer.concat(chunks).toString('utf8');
      const eventId = String(request.headers['webhook-id']);
      const attempt = (attempts.get(eventId) ?? 0) + 1;
      attempts.set(eventId, attempt);
      let verified = false;
      try {
        new Webhook(receiver.secret!).verify(text, request.headers as Record<string, string>);
        verified = true;
      } catch {
        verified = false;
      }
      const entry = {
        path: request.url ?? '',
        eventId,
        attempt,
        body: JSON.parse(text) as Received['body'],
        headers: request.headers,
      };
      let decided = answer(entry);
      if (decided === 'stall' && released) decided = 200;
      received.push({ ...entry, text, verified, answer: decided });
      if (decided === 'drop') request.socket.destroy();
      else if (decided === 'stall') stalledResponses.push(response);
      else response.writeHead(decided, decided >= 300 && decided < 400 ? { location: '/redirected' } : {}).end();
    });
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as AddressInfo;
  const receiver: WebhookReceiver = {
    url: `http://127.0.0.1:${port}/hooks`,
    received,
    release() {
      released = true;
      for (const response of stalledResponses.splice(0)) response.writeHead(200).end();
    },
    async stalled(count = 1) {
      await until(() => stalledResponses.length >= count, `${count} stalled webhook request(s)`);
    },
    async close() {
      receiver.release();
      server.closeAllConnections();
      server.close();
      await once(server, 'close');
    },
  };
  return receiver;
}
