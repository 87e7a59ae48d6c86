import { isIP } from 'node:net';
import { Agent, request } from 'undici';
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
 * Posts webhook bodies, with undici (about 25 against node:http's 35 µs of client CPU per POST,
 * bench/http-clients.ts; in the delivery worker under load the two came out alike: bench/README.md,
 * "Webhooks"). Each attempt is bounded by `timeoutMs`, connecting included; a redirect is an
 * answer like any other (a failure: it is not followed); connections are kept alive between
 * attempts, and each new one resolves and checks its host again (checkingLookup).
 */
export function createSender({ timeoutMs, allowPrivateUrls, concurrency }: SenderOptions) {
  const agent = new Agent({ connections: concurrency, connect: { lookup: checkingLookup(allowPrivateUrls) } });

  async function post(url: URL, headers: Record<string, string>, body: string): Promise<number> {
    // An address in the URL is not looked up, so it is checked here; a name is resolved and
    // checked by checkingLookup when a connection is made (a connection kept alive goes to an
    // address checked then), not again at every attempt.
    const host = hostOf(url);
    if (isIP(host) !== 0) await checkedAddresses(host, allowPrivateUrls);
    const answer = await request(url, {
      method: 'POST',
      dispatcher: agent,
      headers: { ...headers, 'content-type': 'application/json' },
      body,
      signal: AbortSignal.timeout(timeoutMs),
    });
    await answer.body.dump({ limit: MAX_ANSWER_BYTES });
    return answer.statusCode;
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
    /** Closes the connections kept alive. */
    close: (): Promise<void> => agent.destroy(),
  };
}

export type Sender = ReturnType<typeof createSender>;
