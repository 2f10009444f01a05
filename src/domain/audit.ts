/** What the audit log records: who did what to which resource, and when. */
export const AUDIT_ACTIONS = [
  'key.created',
  'key.revoked',
  'merchant.created',
  'merchant.updated',
  'merchant.secret_rotated',
  'merchant.replayed',
  'confirmation.redelivered',
  'credentials.resealed',
] as const;
export type AuditAction = (typeof AUDIT_ACTIONS)[number];

/** One audit entry. `details` never holds a secret or key, only names and counts. */
export interface AuditEntry {
  /** Increasing; also the cursor of the list. */
  readonly id: number;
  readonly at: number;
  /** The API key id that acted (`admin` for CONFIRMA_ADMIN_KEY, `cli` for the command line). */
  readonly actor: string;
  readonly action: AuditAction;
  /** The id of the resource acted on. */
  readonly target: string;
  readonly details: Readonly<Record<string, unknown>> | null;
}

export type NewAuditEntry = Omit<AuditEntry, 'id'>;
