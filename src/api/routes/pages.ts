import type { FastifyInstance, FastifyReply } from 'fastify';
import { CSP, DASHBOARD_HTML, DOCS_HTML, FAVICON_SVG, UI_CSS, UI_JS } from '../pages/pages.js';

/** The dashboard (`/`), the API reference (`/docs`) and their script, style and icon, without auth. */
export function pageRoutes(app: FastifyInstance): void {
  const send = (reply: FastifyReply, type: string, body: string, cache: string): FastifyReply =>
    reply
      .type(type)
      .header('content-security-policy', CSP)
      .header('x-content-type-options', 'nosniff')
      .header('referrer-policy', 'no-referrer')
      .header('cache-control', cache)
      .send(body);
  app.get('/', { config: { public: true } }, async (_req, reply) => send(reply, 'text/html; charset=utf-8', DASHBOARD_HTML, 'no-store'));
  app.get('/docs', { config: { public: true } }, async (_req, reply) => send(reply, 'text/html; charset=utf-8', DOCS_HTML, 'no-store'));
  app.get('/ui.js', { config: { public: true } }, async (_req, reply) => send(reply, 'text/javascript; charset=utf-8', UI_JS, 'max-age=300'));
  app.get('/favicon.svg', { config: { public: true } }, async (_req, reply) => send(reply, 'image/svg+xml', FAVICON_SVG, 'max-age=86400'));
  app.get('/ui.css', { config: { public: true } }, async (_req, reply) => send(reply, 'text/css; charset=utf-8', UI_CSS, 'max-age=300'));
}
