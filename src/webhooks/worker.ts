import { randomBytes } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import type { FastifyBaseLogger } from 'fastify';
import type { WebhooksConfig } from '../config.js';
import type { EventRow } from '../customers/repository/index.js';
import type { CustomerEvent } from '../schemas/activity.js';
import { newWebhookDeliveryId } from '../ids.js';
import type { Sender } from './sender.js';
import { signatureHeaders } from './signing.js';
import type { ClaimedMessage, MessageOutcome, WebhookStore } from './store.js';

export interface DeliveryWorkerOptions {
  store: WebhookStore;
  sender: Sender;
  /** Numbers newly committed events in the feed (the customers repository's sequencer). */
  sequence: () => Promise<number>;
  /** The body of a delivery: the event as the feed shows it. */
  present: (event: EventRow) => CustomerEvent;
  config: WebhooksConfig;
  log: FastifyBaseLogger;
}

/** Events queued per endpoint per round. */
const QUEUE_BATCH = 1000;

/**
 * A round (record, sequence, queue, claim: four transactions) starts once this many attempts
 * ended, once none is left in flight, or GATHER_MS after an attempt ended, whichever comes first:
 * a round per attempt would spend most of the database's time on the rounds' fixed costs while
 * deliveries are many, and GATHER_MS is all a lone delivery's next one waits longer.
 */
const ROUND_AFTER_ENDED = 50;
const GATHER_MS = 20;

/**
 * How long a claim lasts: twice an attempt's timeout and a second, time enough to record the
 * outcome. A worker that died mid-attempt holds its messages this long.
 */
const leaseMsFor = (timeoutMs: number) => 2 * timeoutMs + 1000;

/** The wait before attempt `attempt + 1`: exponential, capped, with jitter (between half and all of it). */
export function retryDelayMs(attempt: number, { retryBaseMs, retryMaxMs }: Pick<WebhooksConfig, 'retryBaseMs' | 'retryMaxMs'>) {
  const delay = Math.min(retryMaxMs, retryBaseMs * 2 ** Math.min(attempt - 1, 40));
  return Math.round(delay / 2 + Math.random() * (delay / 2));
}

/**
 * Delivers webhooks in this process, as any number of other processes may at once. A round
 * numbers newly committed events (the feed's sequencer, when due: FEED_NUMBERING_DUE), queues
 * them for each endpoint, claims messages due (a lease: SKIP LOCKED, one customer's first
 * message only) up to `concurrency` in flight, and records the outcomes of the attempts that
 * ended. Nothing is held in memory but the attempts in flight: a killed process leaves its claims
 * to run out and be taken again.
 */
export function startDeliveryWorker({ store, sender, sequence, present, config, log }: DeliveryWorkerOptions) {
  const stopping = new AbortController();
  let wakeUp = new AbortController();
  const wake = () => wakeUp.abort();
  const leaseMs = leaseMsFor(config.timeoutMs);
  let inFlight = 0;
  /** Outcomes not recorded yet: kept until a round records them (the database may be away). */
  const ended: MessageOutcome[] = [];
  let gathering: NodeJS.Timeout | undefined;
  /** An attempt ended: a round soon (ROUND_AFTER_ENDED, GATHER_MS). */
  const attemptEnded = () => {
    if (ended.length >= ROUND_AFTER_ENDED || inFlight === 0) {
      clearTimeout(gathering);
      gathering = undefined;
      wake();
    } else {
      gathering ??= setTimeout(() => {
        gathering = undefined;
        wake();
      }, GATHER_MS).unref();
    }
  };

  async function attempt(message: ClaimedMessage, body: string): Promise<MessageOutcome> {
    const outcome = await sender.send(message.url, signatureHeaders(message.secret, message.event.id, body), body);
    const delivered = outcome.statusCode !== null && outcome.statusCode >= 200 && outcome.statusCode < 300;
    return {
      endpointId: message.endpoint_id,
      eventId: message.event.id,
      attempt: message.attempts,
      deliveryId: newWebhookDeliveryId(),
      statusCode: outcome.statusCode,
      error: outcome.error ?? (delivered ? null : `answered ${outcome.statusCode}`),
      durationMs: outcome.durationMs,
      delivered,
      retryInMs: delivered ? 0 : retryDelayMs(message.attempts, config),
    };
  }

  function start(message: ClaimedMessage, body: string) {
    inFlight += 1;
    attempt(message, body)
      .catch((error: Error): MessageOutcome => ({
        endpointId: message.endpoint_id,
        eventId: message.event.id,
        attempt: message.attempts,
        deliveryId: newWebhookDeliveryId(),
        statusCode: null,
        error: error.message,
        durationMs: 0,
        delivered: false,
        retryInMs: retryDelayMs(message.attempts, config),
      }))
      .then((outcome) => {
        inFlight -= 1;
        ended.push(outcome);
        attemptEnded();
      });
  }

  /** One round; true when there may be more to do at once. */
  async function round(): Promise<boolean> {
    if (ended.length > 0) {
      const batch = ended.slice();
      await store.recordOutcomes(batch, config.disableAfterMs, `whd_${randomBytes(5).toString('hex')}`);
      ended.splice(0, batch.length);
    }
    if (stopping.signal.aborted) return false;
    if (await store.feedNumberingDue()) await sequence();
    const read = await store.queueFromFeed(QUEUE_BATCH);
    const free = config.concurrency - inFlight;
    if (free <= 0) return read === QUEUE_BATCH;
    const claimed = await store.claim(free, leaseMs);
    // One body per event, however many endpoints it goes to in this claim.
    const bodies = new Map<string, string>();
    for (const message of claimed) {
      let body = bodies.get(message.event.id);
      if (body === undefined) bodies.set(message.event.id, (body = JSON.stringify(present(message.event))));
      start(message, body);
    }
    return read === QUEUE_BATCH || claimed.length === free;
  }

  async function loop() {
    while (!stopping.signal.aborted || inFlight > 0 || ended.length > 0) {
      let busy = false;
      try {
        busy = await round();
      } catch (error) {
        // The database is away or the like: the next round tries again; nothing is lost meanwhile.
        log.error({ err: error }, 'webhook deliveries could not reach the database');
        if (stopping.signal.aborted && inFlight === 0) break;
      }
      if (!busy) {
        const idle = stopping.signal.aborted ? wakeUp.signal : AbortSignal.any([stopping.signal, wakeUp.signal]);
        await sleep(config.pollMs, undefined, { signal: idle }).catch(() => undefined);
        if (wakeUp.signal.aborted) wakeUp = new AbortController();
      }
    }
  }

  const running = loop();
  return {
    /** Attempts in flight end (within the timeout) and are recorded; no new one starts. */
    async stop() {
      stopping.abort();
      await running;
      sender.close();
    },
  };
}

export type DeliveryWorker = ReturnType<typeof startDeliveryWorker>;
