import type { Status } from './status.js';

/** Customer details as the merchant sent them; masked in every log line. */
export interface Customer {
  readonly name?: string;
  readonly phone?: string;
}

/** A payment transaction; every status it takes produces one confirmation. */
export interface Transaction {
  readonly id: string;
  readonly merchantId: string;
  /** The merchant's own reference (order or invoice number). */
  readonly reference: string;
  /** Decimal string exactly as sent; never a float. */
  readonly amount: string;
  readonly currency: string;
  readonly status: Status;
  readonly customer: Customer | null;
  readonly metadata: Readonly<Record<string, unknown>> | null;
  readonly createdAt: number;
  readonly updatedAt: number;
}

/** A validated transaction ready to store (ids already assigned). */
export type NewTransaction = Omit<Transaction, 'createdAt' | 'updatedAt'>;
