import type { FastifyInstance, FastifyReply } from 'fastify';
import { CSP, DASHBOARD_HTML, FAVICON_SVG, UI_CSS, UI_JS } from '../pages/pages.js';
import { textResponse } from '../schemas/common.js';

/** A page or one of its files: no key, and documented as what it is. */
const page = (operationId: string, summary: string, mediaType: string, description: string) => ({
  config: { public: true },
  schema: { operationId, summary, tags: ['pages'], security: [], response: { 200: textResponse(mediaType, description) } },
});

/** The headers of every page and page file: the strict CSP (which forbids framing too), no sniffing, no referrer. */
export function pageHeaders(reply: FastifyReply, cache: string): FastifyReply {
  return reply
    .header('content-security-policy', CSP)
    .header('x-content-type-options', 'nosniff')
    .header('referrer-policy', 'no-referrer')
    .header('cache-control', cache);
}

/** The dashboard (`/`) and its script, style and icon, without auth; the API page is `docs.ts`. */
export function pageRoutes(app: FastifyInstance): void {
  const send = (reply: FastifyReply, type: string, body: string, cache: string): FastifyReply =>
    pageHeaders(reply, cache).type(type).send(body);
  app.get(
    '/',
    page(
      'dashboard',
      "Dashboard: this node's rates (ingested, delivered, retries per second), in flight, event-loop delay, and the store's confirmations not yet delivered, by state; read from /metrics, no merchant data",
      'text/html',
      'HTML page',
    ),
    async (_req, reply) => send(reply, 'text/html; charset=utf-8', DASHBOARD_HTML, 'no-store'),
  );
  app.get('/ui.js', page('pageScript', 'The script of the dashboard', 'text/javascript', 'JavaScript'), async (_req, reply) =>
    send(reply, 'text/javascript; charset=utf-8', UI_JS, 'max-age=300'),
  );
  app.get('/favicon.svg', page('pageIcon', 'The icon of the pages', 'image/svg+xml', 'SVG image'), async (_req, reply) =>
    send(reply, 'image/svg+xml', FAVICON_SVG, 'max-age=86400'),
  );
  app.get('/ui.css', page('pageStyle', 'The style of the dashboard', 'text/css', 'CSS'), async (_req, reply) =>
    send(reply, 'text/css; charset=utf-8', UI_CSS, 'max-age=300'),
  );
}
