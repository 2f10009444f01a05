/**
 * Fake transactions for the load generator: plausible Colombian customers, phone numbers and
 * amounts in COP and USD with the decimals each currency takes (both 2). Plain objects in the
 * shape `POST /v1/transactions` accepts.
 */

const FIRST = [
  'Ana',
  'Juan',
  'María',
  'Carlos',
  'Luisa',
  'Andrés',
  'Camila',
  'Santiago',
  'Valentina',
  'Diego',
  'Paula',
  'Felipe',
  'Daniela',
  'Jorge',
  'Laura',
  'Sebastián',
];
const LAST = [
  'Gómez',
  'Rodríguez',
  'Martínez',
  'López',
  'García',
  'Hernández',
  'Pérez',
  'Sánchez',
  'Ramírez',
  'Torres',
  'Díaz',
  'Vargas',
  'Moreno',
  'Rojas',
  'Castro',
  'Ortiz',
];

function pick<T>(list: readonly T[], random: () => number): T {
  return list[Math.floor(random() * list.length)] as T;
}

function digits(n: number, random: () => number): string {
  let s = '';
  for (let i = 0; i < n; i++) s += Math.floor(random() * 10);
  return s;
}

/** A Colombian mobile number: +57 3xx xxx xxxx. */
export function fakePhone(random: () => number = Math.random): string {
  return `+57 3${digits(2, random)} ${digits(3, random)} ${digits(4, random)}`;
}

export function fakeName(random: () => number = Math.random): string {
  return `${pick(FIRST, random)} ${pick(LAST, random)} ${pick(LAST, random)}`;
}

/**
 * An amount as the API wants it: a decimal string. COP between 1,000 and 2,000,000 pesos in whole
 * hundreds (".00": COP has 2 minor digits in ISO 4217), USD between 1.00 and 500.00 with cents.
 */
export function fakeAmount(currency: 'COP' | 'USD', random: () => number = Math.random): string {
  if (currency === 'COP') return `${(10 + Math.floor(random() * 19_991)) * 100}.00`;
  const cents = 100 + Math.floor(random() * 49_901);
  return `${Math.floor(cents / 100)}.${String(cents % 100).padStart(2, '0')}`;
}

export interface FakeTransaction {
  merchantId: string;
  reference: string;
  amount: string;
  currency: 'COP' | 'USD';
  status: 'pending' | 'approved' | 'rejected';
  customer: { name: string; phone: string };
  metadata: { channel: string };
}

const CHANNELS = ['PSE', 'card', 'Nequi', 'cash'];

/**
 * One fake transaction. `pending` comes with probability `pendingShare` (the load generator later
 * approves it); of the rest about 95% are approved and 5% rejected.
 */
export function fakeTransaction(
  merchantId: string,
  reference: string,
  pendingShare: number,
  random: () => number = Math.random,
): FakeTransaction {
  const currency = random() < 0.8 ? 'COP' : 'USD';
  const r = random();
  const status = r < pendingShare ? 'pending' : r < pendingShare + (1 - pendingShare) * 0.95 ? 'approved' : 'rejected';
  return {
    merchantId,
    reference,
    amount: fakeAmount(currency, random),
    currency,
    status,
    customer: { name: fakeName(random), phone: fakePhone(random) },
    metadata: { channel: pick(CHANNELS, random) },
  };
}
