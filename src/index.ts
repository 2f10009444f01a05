export { generateSecret, signatureHeader, signedHeaders, verifyWebhook } from './signing/standard-webhooks.js';
export type { VerifyResult } from './signing/standard-webhooks.js';
export { startReceiver } from './receiver/receiver.js';
export type { Receiver } from './receiver/receiver.js';
export { epaycoSignature, verifyEpaycoSignature, EPAYCO_STATES } from './formats/epayco.js';
