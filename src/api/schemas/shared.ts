import type { TSchema } from '@sinclair/typebox';
import { ErrorBody, ErrorResponse, Health } from './common.js';
import { Attempt, Confirmation, ConfirmationPage, ConfirmationWithAttempts, Redelivered } from './confirmation.js';
import { ApiKey, AuditPage, KeyCreated, KeyList } from './key.js';
import { Breaker, Merchant, MerchantCreated, MerchantPage, MerchantWithBreaker, Replayed, SecretRotated } from './merchant.js';
import {
  BatchResponse,
  BatchResult,
  ConfirmationSummary,
  ReferenceMatches,
  Transaction,
  TransactionWithConfirmations,
} from './transaction.js';

/**
 * The schemas routes refer to by `$id` (`ref()`): the server adds them with `app.addSchema`, so
 * fast-json-stringify resolves them and `@fastify/swagger` publishes them under
 * `components.schemas`, each by its `$id`.
 */
export const SHARED_SCHEMAS: readonly TSchema[] = [
  ErrorBody,
  ErrorResponse,
  Health,
  Merchant,
  Breaker,
  MerchantWithBreaker,
  MerchantCreated,
  MerchantPage,
  SecretRotated,
  Replayed,
  Transaction,
  ConfirmationSummary,
  TransactionWithConfirmations,
  ReferenceMatches,
  BatchResult,
  BatchResponse,
  Confirmation,
  Attempt,
  ConfirmationWithAttempts,
  ConfirmationPage,
  Redelivered,
  ApiKey,
  KeyCreated,
  KeyList,
  AuditPage,
];
