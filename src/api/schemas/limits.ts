import type { Config } from '../../config.js';
import { MAX_SCHEDULE_DELAY_SEC, MAX_SCHEDULE_ENTRIES } from '../../dispatch/backoff.js';
import { longestAttemptMs } from '../../dispatch/lease.js';

/**
 * Every limit of the API's requests, in one place: the schemas in this folder state them (so ajv
 * checks them and the OpenAPI document shows them), and the few rules that run after a schema
 * (metadata size, answers per page) read them from here too.
 */
export const LIMITS = {
  nameMax: 200,
  urlMax: 2048,
  maxInFlightMax: 1000,
  timeoutMsMin: 100,
  timeoutMsMax: 120_000,
  retryScheduleMaxItems: MAX_SCHEDULE_ENTRIES,
  retryDelayMaxSec: MAX_SCHEDULE_DELAY_SEC,
  referenceMax: 128,
  merchantIdMax: 128,
  customerNameMax: 200,
  customerPhoneMax: 32,
  /** E.164 numbers have at most 15 digits; more could only be something else, such as a card number. */
  customerPhoneDigitsMax: 15,
  metadataMaxKeys: 50,
  metadataKeyMax: 64,
  metadataStringMax: 500,
  metadataMaxBytes: 8192,
  batchMax: 1000,
  idempotencyKeyMax: 255,
  pageMax: 500,
  pageDefault: 100,
  cursorMax: 128,
  epaycoCustIdMax: 64,
  epaycoPKeyMax: 256,
  referenceMatchesMax: 100,
} as const;

/** The largest `timeoutMs` a merchant may set under this configuration: the attempt and its outcome's commit must fit in the lease. */
export function merchantTimeoutMsMax(config: Pick<Config, 'leaseMs'>): number {
  return Math.min(LIMITS.timeoutMsMax, longestAttemptMs(config.leaseMs));
}
