import type { FastifyRequest } from 'fastify';
import type { AuditAction } from '../domain/audit.js';
import type { Store } from '../store/store.js';
import { authOf } from './auth.js';

/**
 * Writes one audit entry for a change the request made: who (the key id), what, to which
 * resource, when. `details` holds field names and counts only, never a secret or key. An audit
 * write that fails is logged and does not undo the change it describes.
 */
export async function audit(
  store: Store,
  request: FastifyRequest,
  action: AuditAction,
  target: string,
  details: Record<string, unknown> | null = null,
): Promise<void> {
  try {
    await store.appendAudit({ at: Date.now(), actor: authOf(request).keyId, action, target, details });
  } catch (err) {
    request.log.error({ err, action, target }, 'writing the audit log failed');
  }
}
