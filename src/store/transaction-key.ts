import type { Transaction } from '../domain/transaction.js';
import { ConfirmaError } from '../errors.js';
import { visible } from './rows.js';
import type { IngestOp } from './store.js';

/**
 * A transaction is identified by its merchant and its id together: ids are unique per merchant, so
 * two merchants may each have a transaction `order-1`, and nothing a merchant key is answered
 * (create, read, status change, errors) depends on whether another merchant uses an id.
 *
 * Both stores key `transactions` by (id, merchant_id) and name both columns in every statement
 * about one transaction. Only the admin may name a transaction by its id alone; the rules of that
 * lookup live here, so both stores and the API answer it alike.
 */

/** A map key for one transaction: (merchant, id), unambiguous whatever characters either holds. */
export function txKey(merchantId: string, id: string): string {
  return `${merchantId.length}:${merchantId}${id}`;
}

/**
 * The merchant whose transaction a status change means: the one it names, else a merchant key's
 * own; undefined only for the admin naming none, when the id alone must tell (see `onlyMatch`).
 * A merchant key naming another merchant finds nothing: the caller's visibility check refuses it.
 */
export function statusMerchant(op: Extract<IngestOp, { kind: 'status' }>): string | undefined {
  return op.merchantId ?? (op.scope.kind === 'merchant' ? op.scope.merchantId : undefined);
}

/**
 * The one transaction an id names among the matches of every merchant (the admin named none):
 * none is `transaction_not_found`, several `ambiguous_transaction_id`. A store asks for two
 * matches at most, which is enough to tell.
 */
export function onlyMatch<T>(id: string, matches: readonly T[]): T {
  if (matches.length > 1) {
    throw new ConfirmaError(
      'ambiguous_transaction_id',
      `several merchants use transaction id ${id}; name one with ?merchantId=`,
      {
        field: 'merchantId',
      },
    );
  }
  const [match] = matches;
  if (match === undefined) throw transactionNotFound(id);
  return match;
}

/**
 * The transaction a status change acts on, inside the store's commit: by (merchant, id) when the
 * merchant is known, else by id across merchants (`every` returns up to two). Another merchant's
 * transaction answers `transaction_not_found`, as a missing one does.
 */
export function statusTarget<T extends { readonly tx: Transaction }>(
  op: Extract<IngestOp, { kind: 'status' }>,
  one: (merchantId: string, id: string) => T | undefined,
  every: (id: string) => readonly T[],
): T {
  const merchantId = statusMerchant(op);
  const found =
    merchantId === undefined ? onlyMatch(op.transactionId, every(op.transactionId)) : one(merchantId, op.transactionId);
  if (found === undefined || !visible(op.scope, found.tx.merchantId)) throw transactionNotFound(op.transactionId);
  return found;
}

export function transactionNotFound(id: string): ConfirmaError {
  return new ConfirmaError('transaction_not_found', `transaction ${id} does not exist`);
}
