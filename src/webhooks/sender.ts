import http from 'node:http';
import https from 'node:https';
import { checkedAddresses, checkingLookup, hostOf } from './addresses.js';

/** What one delivery attempt came to: a status (2xx is a success), or an error, and how long it took. */
export interface AttemptOutcome {
  statusCode: number | null;
  error: string | null;
  durationMs: number;
}

export interface SenderOptions {
  timeoutMs: number;
  allowPrivateUrls: boolean;
  /** Attempts in flight at once: as many connections may be open to one host, so none waits for a socket. */
  concurrency: number;
}

/** The most of a receiver's answer read (and thrown away) before the connection is reused. */
const MAX_ANSWER_BYTES = 64 * 1024;

/**
 * Posts webhook bodies. Each attempt is bounded by `timeoutMs`, connecting included; a redirect is
 * an answer like any other (a failure: it is not followed); connections are kept alive between
 * attempts, and each new one resolves and checks its host again (checkingLookup).
 */
export function createSender({ timeoutMs, allowPrivateUrls, concurrency }: SenderOptions) {
  const lookup = checkingLookup(allowPrivateUrls);
  const agents = {
    'http:': new http.Agent({ keepAlive: true, maxSockets: concurrency, lookup }),
    'https:': new https.Agent({ keepAlive: true, maxSockets: concurrency, lookup }),
  };

  async function post(url: URL, headers: Record<string, string>, body: string): Promise<number> {
    // An address in the URL is not looked up: it is checked here.
    await checkedAddresses(hostOf(url), allowPrivateUrls);
    const request = url.protocol === 'https:' ? https.request : http.request;
    return new Promise((resolve, reject) => {
      const outgoing = request(
        url,
        {
          method: 'POST',
          agent: agents[url.protocol as keyof typeof agents],
          headers: { ...headers, 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) },
          signal: AbortSignal.timeout(timeoutMs),
        },
        (answer) => {
          let read = 0;
          answer.on('data', (chunk: Buffer) => {
            read += chunk.length;
            if (read > MAX_ANSWER_BYTES) answer.destroy();
          });
          answer.on('close', () => resolve(answer.statusCode ?? 0));
          answer.on('error', reject);
        },
      );
      outgoing.on('error', reject);
      outgoing.end(body);
    });
  }

  return {
    async send(url: string, headers: Record<string, string>, body: string): Promise<AttemptOutcome> {
      const started = performance.now();
      const durationMs = () => Math.round(performance.now() - started);
      try {
        const statusCode = await post(new URL(url), headers, body);
        return { statusCode, error: null, durationMs: durationMs() };
      } catch (error) {
        const { name, message, code } = error as NodeJS.ErrnoException;
        const timedOut = name === 'TimeoutError' || name === 'AbortError';
        const reason = timedOut ? `no answer within ${timeoutMs} ms` : code && code !== message ? `${code}: ${message}` : message;
        return { statusCode: null, error: reason, durationMs: durationMs() };
      }
    },
    close() {
      agents['http:'].destroy();
      agents['https:'].destroy();
    },
  };
}

export type Sender = ReturnType<typeof createSender>;
