import { newCustomerId } from '../ids.js';
import { CustomerUpdateBody } from '../schemas/customer.js';
import type { Queryable } from '../transaction.js';
import { metadataSchemaProblem, type MetadataSchemaRules } from './metadata-rules.js';
import { bodyAjv, describeValidationError } from '../validation.js';
import {
  CHANGED_CONCURRENTLY,
  MAX_ROUNDS,
  type BatchWrite,
  type CustomerChanges,
  type CustomerRepository,
  type WriteStamp,
} from './repository/index.js';

/**
 * Writes of bulk updates and imports, applied a batch at a time inside the caller's
 * transaction, with the rules of the single-customer routes: ids, one timestamp per write,
 * source_id unique among live customers, PUT semantics for existing customers.
 */

/** One input row's write: an update of the customer `id`, or else an upsert by source_id (a create without one). */
export interface BulkWrite {
  row: number;
  id?: string;
  sourceId: string | null;
  changes: CustomerChanges;
}

/** An input row that was not applied, and why. */
export interface RowFailure {
  row: number;
  sourceId: string | null;
  reason: string;
}

/** An input row that was applied: the customer it created or updated. */
export interface AppliedRow {
  row: number;
  sourceId: string | null;
  created: boolean;
}

/** What a batch did: the input rows it applied, and those that failed. */
export interface BatchOutcome {
  applied: AppliedRow[];
  failed: RowFailure[];
}

/** The applied rows among `writes`, named by the rows a statement answered. */
const appliedRows = (writes: readonly BatchWrite[], written: ReadonlyArray<{ row: number }>, created: boolean): AppliedRow[] => {
  const sourceIds = new Map(writes.map(({ row, sourceId }) => [row, sourceId]));
  return written.map(({ row }) => ({ row, sourceId: sourceIds.get(row) ?? null, created }));
};

/**
 * Splits writes into runs that one statement each can apply: all by id or all by source_id,
 * and no key twice (a statement cannot change one row twice). Runs keep the input order, so a
 * customer written twice in a batch ends as the second write left it.
 */
function* statementRuns<T extends { id?: string; sourceId: string | null }>(writes: readonly T[]): Generator<T[]> {
  let run: T[] = [];
  const keys = new Set<string>();
  for (const write of writes) {
    const byId = write.id !== undefined;
    const key = write.id ?? write.sourceId;
    const first = run[0];
    if (first && ((first.id !== undefined) !== byId || (key !== null && keys.has(key)))) {
      yield run;
      run = [];
      keys.clear();
    }
    run.push(write);
    if (key !== null) keys.add(key);
  }
  if (run.length > 0) yield run;
}

const validateUpdate = bodyAjv.compile<CustomerUpdateBody>(CustomerUpdateBody);

/** Why merged metadata breaks the limits of a customer's metadata or its schema, if it does. */
function metadataProblem(metadata: Record<string, unknown>, rules: MetadataSchemaRules | undefined): string | undefined {
  if (!validateUpdate({ metadata })) return describeValidationError(validateUpdate.errors ?? []);
  return metadataSchemaProblem(rules, metadata);
}

export function createBulkWriter(repository: CustomerRepository) {
  const unappliedFailures = (writes: readonly BatchWrite[]): RowFailure[] =>
    writes.map(({ row, sourceId }) => ({ row, sourceId, reason: CHANGED_CONCURRENTLY }));

  /** Creates each missing customer and updates each existing one, by source_id (see CustomerRepository.upsert). */
  async function upsertRun(tx: Queryable, run: BulkWrite[], stamp: WriteStamp, expectExisting: boolean, outcome: BatchOutcome) {
    const writes = run.map(({ row, sourceId, changes }) => ({ row, id: newCustomerId(), sourceId, changes }));
    const { created, updated, unapplied } = await repository.upsert(tx, writes, stamp, { expectExisting, returning: 'row' });
    outcome.applied.push(...appliedRows(writes, created, true), ...appliedRows(writes, updated, false));
    outcome.failed.push(...unappliedFailures(unapplied));
  }

  /** Updates the customers named by id; an id that names no live customer fails its row. */
  async function updateRunById(tx: Queryable, run: BulkWrite[], stamp: WriteStamp, outcome: BatchOutcome) {
    const writes = run.map(({ row, id, sourceId, changes }) => ({ row, id: id!, sourceId, changes }));
    const written = await repository.updateMatching(tx, writes, 'id', stamp, 'row');
    outcome.applied.push(...appliedRows(writes, written, false));
    const updated = new Set(written.map(({ row }) => row));
    for (const { row, id, sourceId } of writes.filter((write) => !updated.has(write.row))) {
      outcome.failed.push({ row, sourceId, reason: `Cannot find customer with id ${id}` });
    }
  }

  return {
    /** After a bulk write of `written` customers: see CustomerRepository.refreshStatistics. */
    refreshStatistics: (written: number) => repository.refreshStatistics(written),

    /**
     * The writes of a bulk update or import, in input order: an `id` updates that customer
     * (as POST /customers with an id), a source_id updates its live customer or creates one.
     */
    async upsert(
      tx: Queryable,
      writes: readonly BulkWrite[],
      stamp: WriteStamp,
      { expectExisting = false, rules }: { expectExisting?: boolean; rules: MetadataSchemaRules | undefined },
    ): Promise<BatchOutcome> {
      const outcome: BatchOutcome = { applied: [], failed: [] };
      // Metadata a row sends replaces the customer's: it must meet the metadata schema.
      const accepted = writes.filter(({ row, sourceId, changes }) => {
        const problem = changes.metadata === undefined ? undefined : metadataSchemaProblem(rules, changes.metadata);
        if (problem) outcome.failed.push({ row, sourceId, reason: problem });
        return problem === undefined;
      });
      for (const run of statementRuns(accepted)) {
        if (run[0]!.id !== undefined) await updateRunById(tx, run, stamp, outcome);
        else await upsertRun(tx, run, stamp, expectExisting, outcome);
      }
      return outcome;
    },

    /**
     * Merges `metadata` into the metadata of each customer named by source_id, creating the
     * missing ones. The customers are locked before their metadata is read, so a concurrent
     * write is never lost; a merge that would break the metadata limits fails its row.
     */
    async mergeMetadata(
      tx: Queryable,
      targets: ReadonlyArray<{ row: number; sourceId: string }>,
      metadata: Record<string, unknown>,
      stamp: WriteStamp,
      rules: MetadataSchemaRules | undefined,
    ): Promise<BatchOutcome> {
      const outcome: BatchOutcome = { applied: [], failed: [] };
      for (const run of statementRuns(targets)) {
        let pending = run;
        for (let round = 1; pending.length > 0; round += 1) {
          if (round > MAX_ROUNDS) {
            outcome.failed.push(...pending.map(({ row, sourceId }) => ({ row, sourceId, reason: CHANGED_CONCURRENTLY })));
            break;
          }
          const locked = new Map(
            (
              await repository.lockMetadata(
                tx,
                pending.map((target) => target.sourceId),
              )
            ).map((customer) => [customer.source_id, customer]),
          );
          const updates: BatchWrite[] = [];
          const creates: BatchWrite[] = [];
          for (const { row, sourceId } of pending) {
            const current = locked.get(sourceId);
            const merged = { ...current?.metadata, ...metadata };
            const problem = metadataProblem(merged, rules);
            if (problem) {
              outcome.failed.push({ row, sourceId, reason: problem });
              continue;
            }
            if (!current) {
              creates.push({ row, id: newCustomerId(), sourceId, changes: { metadata } });
              continue;
            }
            updates.push({ row, id: current.id, sourceId, changes: { metadata: merged } });
          }
          // Locked rows stay live until the transaction ends: every update finds its customer.
          outcome.applied.push(...appliedRows(updates, await repository.updateMatching(tx, updates, 'id', stamp, 'row'), false));
          // Created by someone else since the lock: merge into theirs in the next round.
          const inserted = await repository.insertMissing(tx, creates, stamp, 'row');
          outcome.applied.push(...appliedRows(creates, inserted, true));
          const created = new Set(inserted.map(({ row }) => row));
          pending = creates.filter((write) => !created.has(write.row)).map(({ row, sourceId }) => ({ row, sourceId: sourceId! }));
        }
      }
      return outcome;
    },
  };
}

export type BulkWriter = ReturnType<typeof createBulkWriter>;
