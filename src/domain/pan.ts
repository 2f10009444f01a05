/**
 * Card numbers (PANs) must never be stored or logged by Confirma: it is not a card vault and sits
 * outside PCI scope only while none passes through it. A PAN is 13–19 digits that pass the Luhn
 * check; merchants sometimes write them with spaces or dashes, so runs of digits separated by
 * single spaces or dashes are read as one number.
 */
const DIGIT_RUN = /\d(?:[ -]?\d){12,}/g;

/** Luhn checksum over a string of digits. */
export function luhnValid(digits: string): boolean {
  let sum = 0;
  let double = false;
  for (let i = digits.length - 1; i >= 0; i--) {
    let d = digits.charCodeAt(i) - 48;
    if (double) {
      d *= 2;
      if (d > 9) d -= 9;
    }
    sum += d;
    double = !double;
  }
  return sum % 10 === 0;
}

/**
 * Whether `text` holds something that looks like a card number: a run of 13–19 digits (spaces or
 * dashes between them allowed) passing Luhn. Windows inside longer runs are not tried: any 16
 * digits hold a Luhn-valid 13-digit window more often than not, so that would refuse honest data.
 */
export function containsCardNumber(text: string): boolean {
  for (const m of text.matchAll(DIGIT_RUN)) {
    const digits = m[0].replace(/[ -]/g, '');
    if (digits.length <= 19 && luhnValid(digits)) return true;
  }
  return false;
}
