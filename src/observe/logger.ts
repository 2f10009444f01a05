import { pino, stdSerializers, stdTimeFunctions, type DestinationStream, type Logger } from 'pino';

export type { Logger } from 'pino';

/** Masks a person's name to initials: "Ana María Pérez" → "A** M**** P****". */
export function maskName(name: unknown): string {
  if (typeof name !== 'string') return '[masked]';
  return name
    .split(/\s+/)
    .filter((w) => w.length > 0)
    .map((w) => w[0] + '*'.repeat(Math.max(w.length - 1, 1)))
    .join(' ');
}

/** Masks a phone number to its last two digits: "+57 300 123 4567" → "***67". */
export function maskPhone(phone: unknown): string {
  if (typeof phone !== 'string') return '[masked]';
  const digits = phone.replace(/\D/g, '');
  return `***${digits.slice(-2)}`;
}

/**
 * Paths pino redacts in every log line. Secrets and keys are removed outright; customer data is
 * masked so support can still tell records apart.
 */
const SECRET_PATHS = [
  'secret',
  'apiKey',
  'adminKey',
  '*.secret',
  '*.apiKey',
  '*.adminKey',
  'secrets',
  '*.secrets',
  'masterKey',
  '*.masterKey',
  'pKey',
  '*.pKey',
  '*.*.pKey',
  'sealedPKey',
  '*.sealedPKey',
  '*.*.sealedPKey',
  'req.headers.authorization',
  'req.headers.cookie',
  'headers.authorization',
  'headers["webhook-signature"]',
  '*.headers["webhook-signature"]',
];
const CUSTOMER_PATHS = ['customer', '*.customer', '*.*.customer'];

/** The one logger factory: JSON lines with secrets removed and customer data masked. */
export function createLogger(level: string, destination?: DestinationStream): Logger {
  return pino(
    {
      level,
      base: { service: 'confirma' },
      timestamp: stdTimeFunctions.isoTime,
      redact: {
        paths: [...SECRET_PATHS, ...CUSTOMER_PATHS],
        censor: (value: unknown, path: string[]): unknown => {
          const last = path[path.length - 1];
          if (last === 'customer' && value !== null && typeof value === 'object') {
            const c = value as { name?: unknown; phone?: unknown };
            return {
              ...(c.name === undefined ? {} : { name: maskName(c.name) }),
              ...(c.phone === undefined ? {} : { phone: maskPhone(c.phone) }),
            };
          }
          return '[redacted]';
        },
      },
      serializers: {
        err: stdSerializers.err,
      },
    },
    destination,
  );
}
