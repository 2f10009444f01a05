import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import swaggerUi, { type FastifySwaggerUiOptions } from '@fastify/swagger-ui';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { FAVICON_SVG } from '../pages/pages.js';
import { textResponse } from '../schemas/common.js';
import { pageHeaders } from './pages.js';

/**
 * `/docs`: this API's OpenAPI document rendered by swagger-ui (`@fastify/swagger-ui`), under the
 * same strict Content-Security-Policy and headers as the other pages. Its HTML loads only its own
 * script and style files (no inline code), its initializer fetches `/docs/json`, the document
 * `/openapi.json` serves. The one thing that would break `img-src 'self'` is swagger-ui's
 * stylesheet, which carries its icons as `data:` URLs: it is served rewritten, each icon moved to
 * a file of its own under `/docs/static/img/`.
 */

const PREFIX = '/docs';

interface Image {
  readonly type: string;
  readonly body: Buffer;
}

/** A data: URL's bytes: base64, or percent-encoded text with the CSS string's backslash escapes. */
function decodeDataUrl(meta: string, data: string): Buffer {
  if (meta.endsWith(';base64')) return Buffer.from(data, 'base64');
  return Buffer.from(decodeURIComponent(data.replace(/\\(.)/g, '$1')), 'utf8');
}

const EXTENSIONS: Readonly<Record<string, string>> = {
  'image/png': 'png',
  'image/jpeg': 'jpg',
  'image/svg+xml': 'svg',
  'image/gif': 'gif',
};

/** swagger-ui.css with every `url(data:…)` replaced by `url(img/<n>.<ext>)`, and those images. */
export function withImagesAsFiles(css: string): { css: string; images: Map<string, Image> } {
  const images = new Map<string, Image>();
  const rewritten = css.replace(
    /url\(("?)data:([^,"]*),((?:\\.|[^"\\)])*)\1\)/g,
    (_all, _quote: string, meta: string, data: string) => {
      const type = meta.split(';')[0] ?? '';
      const ext = EXTENSIONS[type];
      if (ext === undefined) throw new Error(`swagger-ui.css holds a data: URL of type ${type}`);
      const name = `${images.size}.${ext}`;
      images.set(name, { type, body: decodeDataUrl(meta, data) });
      return `url(img/${name})`;
    },
  );
  if (rewritten.includes('data:')) throw new Error('swagger-ui.css still holds a data: URL after the rewrite');
  return { css: rewritten, images };
}

function swaggerUiCss(): string {
  const main = createRequire(import.meta.url).resolve('@fastify/swagger-ui');
  return readFileSync(path.join(path.dirname(main), 'static', 'swagger-ui.css'), 'utf8');
}

const options: FastifySwaggerUiOptions = {
  routePrefix: PREFIX,
  // No logo: the plugin would draw it from a data: URL, which img-src 'self' refuses.
  logo: null as unknown as FastifySwaggerUiOptions['logo'],
  theme: {
    title: 'Confirma · API',
    favicon: [{ filename: 'favicon.svg', rel: 'icon', type: 'image/svg+xml', sizes: 'any', content: FAVICON_SVG }],
  },
  uiConfig: {
    // The document alone, without the top bar that loads other documents.
    layout: 'BaseLayout',
    deepLinking: true,
    docExpansion: 'list',
    defaultModelsExpandDepth: 0,
    displayOperationId: true,
  },
  validatorUrl: false,
};

/** How `/docs` appears in the document. */
const DOCS_SCHEMA = {
  operationId: 'docs',
  summary: 'This API as a page (swagger-ui): every operation with its parameters, bodies, answers and errors',
  tags: ['pages'],
  security: [],
  response: { 200: textResponse('text/html', 'HTML page') },
};

/** Registers swagger-ui under `/docs`: public, with the pages' headers; `/docs` itself is documented. */
export async function docsRoutes(app: FastifyInstance): Promise<void> {
  const { css, images } = withImagesAsFiles(swaggerUiCss());

  // Every route here is public. swagger-ui hides its own from the document; the page itself is
  // published as /docs (its twin /docs/ and its files stay out: they are the renderer's, not the API's).
  app.addHook('onRoute', (route) => {
    const page = route.url === PREFIX && route.method === 'GET';
    route.config = {
      ...route.config,
      public: true,
      ...(page ? { swaggerTransform: () => ({ schema: DOCS_SCHEMA, url: PREFIX }) } : {}),
    };
  });
  app.addHook('onSend', async (request: FastifyRequest, reply: FastifyReply, payload: unknown) => {
    pageHeaders(reply, request.url.startsWith(`${PREFIX}/static/`) ? 'max-age=300' : 'no-store');
    return payload;
  });

  await app.register(swaggerUi, options);

  app.get(`${PREFIX}/static/swagger-ui.css`, { schema: { hide: true } }, async (_request, reply) =>
    reply.type('text/css; charset=utf-8').send(css),
  );
  app.get<{ Params: { name: string } }>(`${PREFIX}/static/img/:name`, { schema: { hide: true } }, async (request, reply) => {
    const image = images.get(request.params.name);
    if (image === undefined) return reply.callNotFound();
    return reply.type(image.type).send(image.body);
  });
}
