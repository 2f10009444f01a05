import { SpanKind, SpanStatusCode, trace, type Span } from '@opentelemetry/api';

/**
 * OpenTelemetry traces, through the vendor-neutral API only: Confirma makes spans, and they go
 * nowhere (the API's no-op, a few nanoseconds each) unless the process registers an OpenTelemetry
 * SDK, e.g. with `node --import ./otel-setup.mjs dist/src/cli/main.js start` (README, "Traces").
 *
 * Spans carry ids and counts only, never a customer's data, a secret or a merchant URL's path or
 * query (which may hold a token): the merchant's host is enough to find it.
 *
 * - `confirma.ingest.commit`: one group commit (attribute `confirma.ops`: how many writes shared it);
 * - `confirma.attempt` (kind CLIENT): one delivery attempt, with the confirmation (= webhook-id),
 *   merchant, transaction and seq, the attempt number, the answer's status code, the outcome;
 *   its status is ERROR unless the merchant answered 2xx;
 * - `confirma.outcomes.commit`: one batch of outcomes written back.
 */
export const tracer = trace.getTracer('confirma', '0.1.0');

export { SpanKind, SpanStatusCode, type Span };

/** Runs `fn` inside a span that ends with it; a throw marks the span as an error and is rethrown. */
export async function traced<T>(
  name: string,
  attributes: Record<string, string | number>,
  fn: (span: Span) => Promise<T>,
): Promise<T> {
  const span = tracer.startSpan(name, { attributes });
  try {
    return await fn(span);
  } catch (err) {
    span.setStatus({ code: SpanStatusCode.ERROR, message: err instanceof Error ? err.message : String(err) });
    throw err;
  } finally {
    span.end();
  }
}

/** The host (and port) of a URL, for spans: never its path or query. */
export function hostOf(url: string): string {
  try {
    return new URL(url).host;
  } catch {
    return '';
  }
}
