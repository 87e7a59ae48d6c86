import { randomBytes } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import type { FastifyBaseLogger } from 'fastify';
import type { WebhooksConfig } from '../config.js';
import type { EventRow } from '../customers/repository/index.js';
import type { CustomerEvent } from '../schemas/activity.js';
import { newWebhookDeliveryId } from '../ids.js';
import type { Sender } from './sender.js';
import { signatureHeaders } from './signing.js';
import type { ClaimedMessage, FeedRange, MessageOutcome, SentFromFeed, WebhookStore } from './store.js';

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

/** Most events of the feed read per round, shared between the endpoints (READ_FEED). */
const READ_LIMIT = 1000;

/**
 * A round (the feed's sequencer, then one transaction that records and closes, reads the feed and
 * claims) starts once this many attempts ended, once none is left in flight, or GATHER_MS after an
 * attempt ended, whichever comes first: a round per attempt would spend most of the database's
 * time on the rounds' fixed costs while deliveries are many, and GATHER_MS is all a lone
 * delivery's next one waits longer.
 */
const ROUND_AFTER_ENDED = 50;
const GATHER_MS = 20;

/**
 * A range of the feed is closed once every event sent from it was answered, or after this long:
 * an attempt still in flight then is queued as a message (under the range's lease), and the
 * endpoint's next events need not wait for a slow receiver's answer.
 */
const RANGE_HOLD_MS = 1000;

/**
 * How long a claim lasts: twice an attempt's timeout and a second, time enough to record the
 * outcome. A worker that died mid-attempt holds its messages (and its ranges of the feed) this long.
 */
const leaseMsFor = (timeoutMs: number) => 2 * timeoutMs + 1000;

/** The wait before attempt `attempt + 1`: exponential, capped, with jitter (between half and all of it). */
export function retryDelayMs(attempt: number, { retryBaseMs, retryMaxMs }: Pick<WebhooksConfig, 'retryBaseMs' | 'retryMaxMs'>) {
  const delay = Math.min(retryMaxMs, retryBaseMs * 2 ** Math.min(attempt - 1, 40));
  return Math.round(delay / 2 + Math.random() * (delay / 2));
}

/** An event sent straight from a range of the feed: what became of it so far. */
interface SentEvent extends SentFromFeed {
  /** The range's closing queued it as a message (it was in flight): its outcome is a message's. */
  queued: boolean;
}

/** A range of the feed this worker holds, and the events it sent from it. */
interface OpenRange {
  range: FeedRange;
  openedAt: number;
  sent: SentEvent[];
}

/** Whether every event sent from a range was answered (or it sent none). */
const allAnswered = (range: OpenRange) => range.sent.every((event) => event.state !== 'in-flight');

/** An attempt that ended, to be recorded; `fromFeed` when its event was sent straight from the feed. */
interface EndedAttempt {
  outcome: Omit<MessageOutcome, 'direct'>;
  fromFeed?: SentEvent;
}

/**
 * Delivers webhooks in this process, as any number of other processes may at once. A round
 * numbers newly committed events (the feed's sequencer, when due: FEED_NUMBERING_DUE), then, in
 * one transaction (WebhookStore.round):
 * - records the outcomes of the attempts that ended, and closes the ranges of the feed whose
 *   events were all answered (CLOSE_RANGES: what was not delivered is queued);
 * - reads the next range of the feed of each endpoint, under a lease, and sends at once the
 *   events that need not wait for an earlier one (READ_FEED): on the happy path, nothing is queued;
 * - claims queued messages due (retries, and events behind one not delivered yet; a lease: SKIP
 *   LOCKED, one customer's first message only) up to `concurrency` in flight.
 * Nothing is held in memory but the attempts in flight and the ranges open: a killed process
 * leaves its leases to run out, and its ranges and messages are read and claimed again.
 */
export function startDeliveryWorker({ store, sender, sequence, present, config, log }: DeliveryWorkerOptions) {
  const stopping = new AbortController();
  let wakeUp = new AbortController();
  // Not aborted again while it is: abort()'s default reason is a new DOMException, with its stack
  // trace, at every call (at saturation, an attempt ending every ~0.5 ms took 2.5% of the worker).
  const wake = () => {
    if (!wakeUp.signal.aborted) wakeUp.abort();
  };
  const leaseMs = leaseMsFor(config.timeoutMs);
  let inFlight = 0;
  /** Outcomes not recorded yet: kept until a round records them (the database may be away). */
  const ended: EndedAttempt[] = [];
  /** The ranges of the feed this worker holds, by endpoint. */
  const open = new Map<string, OpenRange>();
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

  async function attempt(message: ClaimedMessage, body: string): Promise<EndedAttempt['outcome']> {
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

  function start(message: ClaimedMessage, body: string, from?: OpenRange) {
    inFlight += 1;
    let fromFeed: SentEvent | undefined;
    if (from) {
      fromFeed = { eventId: message.event.id, state: 'in-flight', retryInMs: 0, queued: false };
      from.sent.push(fromFeed);
    }
    attempt(message, body)
      .catch((error: Error): EndedAttempt['outcome'] => ({
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
        if (fromFeed) {
          fromFeed.state = outcome.delivered ? 'delivered' : 'failed';
          fromFeed.retryInMs = outcome.retryInMs;
        }
        ended.push({ outcome, fromFeed });
        attemptEnded();
      });
  }

  /** Starts the attempts of `messages`, serializing each event's body once. */
  function startAll(messages: readonly ClaimedMessage[], from?: (message: ClaimedMessage) => OpenRange | undefined) {
    const bodies = new Map<string, string>();
    for (const message of messages) {
      let body = bodies.get(message.event.id);
      if (body === undefined) bodies.set(message.event.id, (body = JSON.stringify(present(message.event))));
      start(message, body, from?.(message));
    }
  }

  /** One round (WebhookStore.round); true when there may be more to do at once. */
  async function round(): Promise<boolean> {
    const now = Date.now();
    // The ranges due to close: all answered, held RANGE_HOLD_MS, or this worker stopping.
    const closing = [...open.values()].filter(
      (range) => allAnswered(range) || stopping.signal.aborted || now - range.openedAt >= RANGE_HOLD_MS,
    );
    const recorded = ended.length;
    const outcomes = ended.map(({ outcome, fromFeed }) => ({ ...outcome, direct: fromFeed !== undefined && !fromFeed.queued }));
    const ranges = closing.map(({ range, sent }) => ({ ...range, sent }));
    if (!stopping.signal.aborted && (await store.feedNumberingDue())) await sequence();
    // Read no more than can be sent now: the rest of the feed waits for free attempts, not in the queue.
    const free = stopping.signal.aborted ? 0 : config.concurrency - inFlight;
    const result = await store.round(
      { outcomes, ranges, readLimit: Math.min(free, READ_LIMIT), free, leaseMs, lease: randomBytes(8).toString('hex') },
      config.disableAfterMs,
      `whd_${randomBytes(5).toString('hex')}`,
    );
    ended.splice(0, recorded);
    for (const range of closing) open.delete(range.range.endpointId);
    for (const { endpoint_id: endpointId, event_id: eventId } of result.queuedInFlight) {
      const event = closing.find((range) => range.range.endpointId === endpointId)?.sent.find((sent) => sent.eventId === eventId);
      if (event) event.queued = true;
    }
    for (const range of result.ranges) open.set(range.endpointId, { range, openedAt: Date.now(), sent: [] });
    startAll(result.fromFeed, (message) => open.get(message.endpoint_id));
    startAll(result.claimed);
    // A range with nothing sent from it (all queued behind earlier events, or none taken) closes at
    // once; otherwise the next round comes when attempts end (attemptEnded) or after pollMs.
    return result.ranges.some((range) => allAnswered(open.get(range.endpointId)!));
  }

  async function loop() {
    while (!stopping.signal.aborted || inFlight > 0 || ended.length > 0 || open.size > 0) {
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
      await sender.close();
    },
  };
}

export type DeliveryWorker = ReturnType<typeof startDeliveryWorker>;
