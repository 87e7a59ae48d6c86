import type { BulkWrite, RowFailure } from '../customers/bulk.js';
import { toChanges } from '../customers/service.js';
import { CustomerBulkItem, CustomerCreateBody, SourceId } from '../schemas/customer.js';
import { bodyAjv, describeValidationError, isStorableText, UNSTORABLE_TEXT } from '../validation.js';
import { csvRows, mapHeader, rowToBody, sourceIdOf } from './csv.js';
import type { AsyncActionRow, AsyncActionStore } from './store.js';

/**
 * Each kind of action's input, read from where the last committed batch stopped and turned
 * into batches of customer writes: the rules of the single-customer routes are checked here,
 * row by row, and a row that breaks one becomes a failed row instead of stopping the job.
 */

/** A batch ready to apply, and where the input stands after it. */
export interface PreparedBatch {
  /** Input rows consumed once this batch commits. */
  position: number;
  /** Progress units (items or file bytes) read once this batch commits. */
  inputRead: number;
  /** BULK_UPDATE and IMPORT_CSV. */
  writes: BulkWrite[];
  /** METADATA_UPDATE: the customers to merge the action's metadata into. */
  targets: Array<{ row: number; sourceId: string }>;
  /** Rows rejected before writing. */
  failed: RowFailure[];
}

/** A problem with the action as a whole, which no retry can fix: it ends FAILED with this reason. */
export class JobFailure extends Error {}

const emptyBatch = (): PreparedBatch => ({ position: 0, inputRead: 0, writes: [], targets: [], failed: [] });
const size = (batch: PreparedBatch) => batch.writes.length + batch.targets.length + batch.failed.length;

const validateBulkItem = bodyAjv.compile<CustomerBulkItem>(CustomerBulkItem);
const validateSourceId = bodyAjv.compile<string>(SourceId);
const validateCsvRow = bodyAjv.compile<CustomerCreateBody>(CustomerCreateBody);

const sourceIdIn = (item: unknown): string | null => {
  const sourceId = (item as { source_id?: unknown } | null)?.source_id;
  return typeof sourceId === 'string' ? sourceId : null;
};

/** A bulk update's customers, checked as POST /customers/bulk/async documents them. */
function bulkItem(row: number, item: unknown, batch: PreparedBatch): void {
  if (!validateBulkItem(item)) {
    batch.failed.push({
      row,
      sourceId: sourceIdIn(item),
      reason: describeValidationError(validateBulkItem.errors ?? [], 'The item'),
    });
    return;
  }
  const { source_id: sourceId, ...fields } = item;
  batch.writes.push({ row, sourceId, changes: toChanges(fields) });
}

/** A metadata update's source_ids. */
function metadataTarget(row: number, item: unknown, batch: PreparedBatch): void {
  if (!validateSourceId(item)) {
    batch.failed.push({
      row,
      sourceId: typeof item === 'string' ? item : null,
      reason: describeValidationError(validateSourceId.errors ?? [], 'The source_id'),
    });
    return;
  }
  batch.targets.push({ row, sourceId: item });
}

async function* itemBatches(
  store: AsyncActionStore,
  action: AsyncActionRow,
  batchSize: number,
  take: (row: number, item: unknown, batch: PreparedBatch) => void,
): AsyncGenerator<PreparedBatch> {
  let position = action.position;
  for (;;) {
    const items = await store.readItems(action.id, position, batchSize);
    if (items.length === 0) return;
    const batch = emptyBatch();
    for (const { position: row, item } of items) take(row, item, batch);
    position = items.at(-1)!.position;
    yield { ...batch, position, inputRead: position };
  }
}

/** The uploaded file, chunk after chunk, as stored. */
async function* fileChunks(store: AsyncActionStore, actionId: string): AsyncGenerator<Buffer> {
  for (let seq = 0; ; seq += 1) {
    const chunk = await store.readChunk(actionId, seq);
    if (!chunk) return;
    yield chunk;
  }
}

async function* csvBatches(store: AsyncActionStore, action: AsyncActionRow, batchSize: number): AsyncGenerator<PreparedBatch> {
  let targets: ReturnType<typeof mapHeader> | undefined;
  let batch = emptyBatch();
  for await (const line of csvRows(fileChunks(store, action.id))) {
    if ('header' in line) {
      try {
        targets = mapHeader(line.header);
      } catch (error) {
        throw new JobFailure(error instanceof Error ? error.message : String(error));
      }
      continue;
    }
    if (!targets) throw new JobFailure('The CSV file has no header row');
    // Rows that committed batches already processed, before an interruption.
    if (line.row <= action.position) continue;
    const { row } = line;
    if ('unreadable' in line) {
      batch.failed.push({ row, sourceId: null, reason: line.unreadable });
    } else if (!line.cells.every(isStorableText)) {
      batch.failed.push({ row, sourceId: sourceIdOf(targets, line.cells), reason: `The row ${UNSTORABLE_TEXT}` });
    } else if (line.cells.length !== targets.length) {
      batch.failed.push({
        row,
        sourceId: sourceIdOf(targets, line.cells),
        reason: `The row has ${line.cells.length} fields where the header row has ${targets.length}`,
      });
    } else {
      const body = rowToBody(targets, line.cells);
      if (validateCsvRow(body)) {
        const { id, source_id: sourceId, ...fields } = body;
        batch.writes.push({ row, id, sourceId: sourceId ?? null, changes: toChanges(fields) });
      } else {
        batch.failed.push({
          row,
          sourceId: sourceIdOf(targets, line.cells),
          reason: describeValidationError(validateCsvRow.errors ?? [], 'The row'),
        });
      }
    }
    batch.position = row;
    batch.inputRead = line.bytes;
    if (size(batch) >= batchSize) {
      yield batch;
      batch = emptyBatch();
    }
  }
  if (size(batch) > 0) yield batch;
}

/** The batches of an action's input that committed batches have not yet processed. */
export function inputBatches(store: AsyncActionStore, action: AsyncActionRow, batchSize: number): AsyncGenerator<PreparedBatch> {
  switch (action.type) {
    case 'CUSTOMERS.BULK_UPDATE':
      return itemBatches(store, action, batchSize, bulkItem);
    case 'CUSTOMERS.METADATA_UPDATE':
      return itemBatches(store, action, batchSize, metadataTarget);
    case 'CUSTOMERS.IMPORT_CSV':
      return csvBatches(store, action, batchSize);
  }
}
