import { unmarshall } from '@aws-sdk/util-dynamodb';
import type { DynamoDBBatchResponse, DynamoDBRecord, DynamoDBStreamEvent } from 'aws-lambda';
import { defaultMapping, ExactNumber, MappingError, type ItemMapping, type MappedTransaction } from './mapping.js';

/**
 * The DynamoDB Streams source: a Lambda handler that forwards a Transactions table's changes to
 * Confirma. Per record, in stream order:
 *
 *   INSERT  → a create through the batch API (`POST /v1/transactions/batch`), one request per
 *             invocation, each item keyed `idempotencyKey = <item id>:<sequence number>`;
 *   MODIFY  → `PATCH /v1/transactions/:id?merchantId=<its merchant> {status}` when the status
 *             changed (other edits are ignored); a transaction Confirma does not know yet (the
 *             table predates the stream) is created with its current status instead;
 *   REMOVE  → ignored with a log line (a confirmation cannot be taken back).
 *
 * What counts as failed (listed in `batchItemFailures`, so Lambda retries exactly those records):
 * anything that may succeed later — no answer, 5xx, 429, a retryable error code. A record that
 * can never succeed (not a transaction, refused by Confirma's validation) is logged as rejected
 * and not retried: retrying a poison record would only block its shard. A record that comes after
 * a failed record of the same item is failed too without being sent, so an item's changes reach
 * Confirma in order.
 *
 * Redelivery is harmless: creates replay under their idempotency key, and a status change that
 * is already applied answers 409 invalid_transition; the transaction is then read back, and if
 * it already has that status the record is done (otherwise the change is not allowed: rejected).
 *
 * Transaction ids are unique per merchant in Confirma, not across merchants: an item is its
 * (merchant, id), every request about it names its merchant (`?merchantId=`, so an admin key never
 * meets `ambiguous_transaction_id`), and one item's order and failures never hold back another
 * merchant's item with the same id.
 */

/** Settings of the adapter; {@link configFromEnv} reads them from the Lambda environment. */
export interface AdapterConfig {
  /** Base URL of the Confirma API, e.g. `https://confirma.example.com`. */
  readonly confirmaUrl: string;
  /** An admin key, or a merchant key when every item belongs to that merchant. */
  readonly apiKey: string;
  /** Item → transaction; default {@link defaultMapping}. */
  readonly mapping?: ItemMapping;
  /** Deadline of one request to Confirma, ms. Default 10,000. */
  readonly timeoutMs?: number;
  /** Status changes sent at once (different items; one item's changes stay in order). Default 8. */
  readonly concurrency?: number;
  /** Where log lines go; default one JSON line per event on stdout (CloudWatch). */
  readonly log?: (level: 'info' | 'warn' | 'error', message: string, fields: Record<string, unknown>) => void;
}

/** Error codes that may succeed if the same request is sent later. */
const RETRYABLE_CODES = new Set(['store_unavailable', 'shutting_down', 'rate_limited', 'internal']);

type Work =
  | { readonly kind: 'create'; readonly seq: string; readonly tx: MappedTransaction }
  | { readonly kind: 'status'; readonly seq: string; readonly tx: MappedTransaction };

/** What became of one request: done, failed (retry the record) or rejected (log, never retry). */
type Verdict = { readonly kind: 'done' } | { readonly kind: 'failed' | 'rejected'; readonly reason: string };

/** What the handler reads of Confirma's answers: JSON it did not write, so every field may be absent. */
interface ApiAnswer {
  readonly error?: { readonly code?: string; readonly message?: string };
  readonly results?: ReadonlyArray<{
    readonly ok?: boolean;
    readonly error?: { readonly code?: string; readonly message?: string };
  }>;
  readonly status?: string;
}

/** Builds a handler bound to a configuration (tests call this; Lambda uses {@link handler}). */
export function createHandler(config: AdapterConfig): (event: DynamoDBStreamEvent) => Promise<DynamoDBBatchResponse> {
  const base = config.confirmaUrl.replace(/\/+$/, '');
  const mapping = config.mapping ?? defaultMapping();
  const timeoutMs = config.timeoutMs ?? 10_000;
  const concurrency = Math.max(1, config.concurrency ?? 8);
  const log = config.log ?? jsonLog;

  async function call(
    method: string,
    path: string,
    body: unknown,
  ): Promise<{ status: number; body: ApiAnswer | undefined } | Error> {
    try {
      const res = await fetch(base + path, {
        method,
        headers: {
          authorization: `Bearer ${config.apiKey}`,
          ...(body === undefined ? {} : { 'content-type': 'application/json' }),
        },
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
        signal: AbortSignal.timeout(timeoutMs),
      });
      const text = await res.text();
      let parsed: unknown;
      try {
        parsed = JSON.parse(text);
      } catch {
        parsed = undefined;
      }
      return { status: res.status, body: parsed as ApiAnswer | undefined };
    } catch (err) {
      return err instanceof Error ? err : new Error(String(err));
    }
  }

  /** The verdict of an error answer: retryable codes, 5xx, 429 and auth problems fail; other 4xx reject. */
  function fromError(status: number, body: ApiAnswer | undefined): Verdict {
    const code = body?.error?.code ?? `http_${status}`;
    const reason = `${code}: ${String(body?.error?.message ?? '').slice(0, 300)}`;
    // 401/403 mean this function is misconfigured, not that the record is bad: keep retrying it.
    if (status >= 500 || status === 429 || status === 401 || status === 403 || RETRYABLE_CODES.has(code)) {
      return { kind: 'failed', reason };
    }
    return { kind: 'rejected', reason };
  }

  /** Creates through the batch API, 1,000 items per request; one verdict per item. */
  async function createAll(items: ReadonlyArray<{ seq: string; tx: MappedTransaction }>): Promise<Verdict[]> {
    const verdicts: Verdict[] = [];
    for (let i = 0; i < items.length; i += 1000) {
      const chunk = items.slice(i, i + 1000);
      const transactions = chunk.map(({ seq, tx }) => ({ ...tx, idempotencyKey: `${tx.id}:${seq}` }));
      const res = await call('POST', '/v1/transactions/batch', { transactions });
      if (res instanceof Error) {
        verdicts.push(...chunk.map((): Verdict => ({ kind: 'failed', reason: `no answer: ${res.message}` })));
      } else if (res.status !== 200) {
        const v = fromError(res.status, res.body);
        // A 4xx on the whole request (bad envelope) is our bug, not a bad record: retry.
        verdicts.push(...chunk.map((): Verdict => (v.kind === 'rejected' ? { kind: 'failed', reason: v.reason } : v)));
      } else {
        for (let j = 0; j < chunk.length; j++) {
          const r = res.body?.results?.[j];
          if (r?.ok === true) verdicts.push({ kind: 'done' });
          else if (r?.ok === false) verdicts.push(fromError(0, r));
          else verdicts.push({ kind: 'failed', reason: 'no result for this item' });
        }
      }
    }
    return verdicts;
  }

  /** One status change; a transaction Confirma does not know is created with its current status. */
  async function changeStatus(seq: string, tx: MappedTransaction): Promise<Verdict> {
    const path = `/v1/transactions/${encodeURIComponent(tx.id)}?merchantId=${encodeURIComponent(tx.merchantId)}`;
    const res = await call('PATCH', path, { status: tx.status });
    if (res instanceof Error) return { kind: 'failed', reason: `no answer: ${res.message}` };
    if (res.status === 200) return { kind: 'done' };
    const code = res.body?.error?.code;
    if (res.status === 409 && code === 'invalid_transition') {
      // Either a redelivery (already in this status) or a change the state machine forbids.
      const now = await call('GET', path, undefined);
      if (now instanceof Error || now.status >= 500) {
        return { kind: 'failed', reason: 'invalid_transition, and reading the transaction back failed' };
      }
      if (now.body?.status === tx.status) return { kind: 'done' };
      const reason = `invalid_transition: the transaction is ${String(now.body?.status)}, the item says ${tx.status}`;
      return { kind: 'rejected', reason };
    }
    if (res.status === 404 && code === 'transaction_not_found') {
      const [created] = await createAll([{ seq, tx }]);
      return created!;
    }
    return fromError(res.status, res.body);
  }

  return async function handle(event: DynamoDBStreamEvent): Promise<DynamoDBBatchResponse> {
    const failed = new Set<string>();
    const work: Work[] = [];
    for (const record of event.Records ?? []) {
      const seq = record.dynamodb?.SequenceNumber;
      if (seq === undefined) {
        log('error', 'record without a sequence number skipped', { eventID: record.eventID });
        continue;
      }
      const item = describeRecord(record, mapping);
      if (item.kind === 'skip') {
        log(item.level, item.message, { sequenceNumber: seq, eventName: record.eventName, ...item.fields });
        continue;
      }
      work.push({ kind: item.kind, seq, tx: item.tx });
    }

    // Creates first, in one batch request; an item's later status changes wait for its create.
    const creates = work.filter((w) => w.kind === 'create');
    const verdicts = await createAll(creates);
    const blocked = new Set<string>(); // items (itemKey) with a failed record in this invocation
    creates.forEach((w, i) => settle(w, verdicts[i]!));

    // Status changes: one chain per item (in stream order), chains run side by side.
    const chains = new Map<string, Work[]>();
    for (const w of work) if (w.kind === 'status') chains.set(itemKey(w.tx), [...(chains.get(itemKey(w.tx)) ?? []), w]);
    const queue = [...chains.values()];
    await Promise.all(
      Array.from({ length: Math.min(concurrency, queue.length) }, async () => {
        for (let chain = queue.shift(); chain !== undefined; chain = queue.shift()) {
          for (const w of chain) {
            if (blocked.has(itemKey(w.tx))) settle(w, { kind: 'failed', reason: 'an earlier record of this item failed' });
            else settle(w, await changeStatus(w.seq, w.tx));
          }
        }
      }),
    );

    function settle(w: Work, v: Verdict): void {
      if (v.kind === 'done') return;
      const fields = { sequenceNumber: w.seq, id: w.tx.id, merchantId: w.tx.merchantId, kind: w.kind, reason: v.reason };
      if (v.kind === 'rejected') {
        log('error', 'record rejected by Confirma; not retried', fields);
        return;
      }
      log('warn', 'record failed; Lambda will retry it', fields);
      failed.add(w.seq);
      blocked.add(itemKey(w.tx));
    }

    // Report in stream order, as Lambda resumes from the lowest failed sequence number.
    const order = (event.Records ?? []).map((r) => r.dynamodb?.SequenceNumber);
    const failures = order.filter((s): s is string => s !== undefined && failed.has(s));
    return { batchItemFailures: failures.map((s) => ({ itemIdentifier: s })) };
  };
}

type Described =
  | { readonly kind: 'create' | 'status'; readonly tx: MappedTransaction }
  | {
      readonly kind: 'skip';
      readonly level: 'info' | 'warn' | 'error';
      readonly message: string;
      readonly fields: Record<string, unknown>;
    };

/** Decides what a record asks for, without any I/O. */
function describeRecord(record: DynamoDBRecord, mapping: ItemMapping): Described {
  const name = record.eventName;
  if (name === 'REMOVE') {
    const message = 'REMOVE ignored: a sent confirmation cannot be taken back';
    return { kind: 'skip', level: 'info', message, fields: { keys: keyText(record) } };
  }
  if (name !== 'INSERT' && name !== 'MODIFY') {
    return { kind: 'skip', level: 'warn', message: 'unknown event ignored', fields: {} };
  }
  const image = record.dynamodb?.NewImage;
  if (image === undefined) {
    return {
      kind: 'skip',
      level: 'error',
      message: 'record without NewImage skipped: the stream must use NEW_IMAGE or NEW_AND_OLD_IMAGES',
      fields: { keys: keyText(record) },
    };
  }
  let tx: MappedTransaction;
  try {
    tx = mapping(toNative(image));
  } catch (err) {
    if (err instanceof MappingError || err instanceof TypeError) {
      const fields = { keys: keyText(record), reason: err.message };
      return { kind: 'skip', level: 'error', message: 'item is not a transaction; skipped, not retried', fields };
    }
    throw err;
  }
  if (name === 'INSERT') return { kind: 'create', tx };
  const old = record.dynamodb?.OldImage;
  if (old !== undefined) {
    let before: MappedTransaction | undefined;
    try {
      before = mapping(toNative(old));
    } catch {
      before = undefined; // the old image was malformed: treat as a change
    }
    if (before !== undefined && before.status === tx.status) {
      return { kind: 'skip', level: 'info', message: 'MODIFY without a status change ignored', fields: { id: tx.id } };
    }
  }
  return { kind: 'status', tx };
}

/** One item: its merchant and its id (ids are unique per merchant). */
function itemKey(tx: MappedTransaction): string {
  return JSON.stringify([tx.merchantId, tx.id]);
}

/** An image as plain values; numbers keep their exact digits. */
function toNative(image: Record<string, unknown>): Record<string, unknown> {
  return unmarshall(image as Parameters<typeof unmarshall>[0], { wrapNumbers: (v: string) => new ExactNumber(v) });
}

/** The record's key for log lines (ids only, never customer data). */
function keyText(record: DynamoDBRecord): string {
  try {
    const keys = record.dynamodb?.Keys;
    return keys === undefined ? '-' : JSON.stringify(toNative(keys)).slice(0, 200);
  } catch {
    return '-';
  }
}

function jsonLog(level: string, message: string, fields: Record<string, unknown>): void {
  process.stdout.write(`${JSON.stringify({ level, message, ...fields })}\n`);
}

/**
 * Configuration from the Lambda environment: `CONFIRMA_URL`, `CONFIRMA_API_KEY`, and optionally
 * `CONFIRMA_MERCHANT_ID` (merchant of items without merchant_id), `CONFIRMA_CURRENCY` (default
 * COP) and `CONFIRMA_TIMEOUT_MS`.
 */
export function configFromEnv(env: Readonly<Record<string, string | undefined>> = process.env): AdapterConfig {
  const confirmaUrl = env.CONFIRMA_URL;
  const apiKey = env.CONFIRMA_API_KEY;
  if (!confirmaUrl || !apiKey) throw new Error('CONFIRMA_URL and CONFIRMA_API_KEY must be set');
  const timeout = env.CONFIRMA_TIMEOUT_MS ? Number(env.CONFIRMA_TIMEOUT_MS) : undefined;
  if (timeout !== undefined && !(Number.isInteger(timeout) && timeout > 0)) {
    throw new Error('CONFIRMA_TIMEOUT_MS must be a whole number of milliseconds');
  }
  return {
    confirmaUrl,
    apiKey,
    mapping: defaultMapping({
      ...(env.CONFIRMA_MERCHANT_ID ? { merchantId: env.CONFIRMA_MERCHANT_ID } : {}),
      ...(env.CONFIRMA_CURRENCY ? { currency: env.CONFIRMA_CURRENCY } : {}),
    }),
    ...(timeout === undefined ? {} : { timeoutMs: timeout }),
  };
}

let fromEnv: ((event: DynamoDBStreamEvent) => Promise<DynamoDBBatchResponse>) | undefined;

/** The Lambda entry point (`handler.handler`); configured from the environment on first use. */
export async function handler(event: DynamoDBStreamEvent): Promise<DynamoDBBatchResponse> {
  fromEnv ??= createHandler(configFromEnv());
  return fromEnv(event);
}
