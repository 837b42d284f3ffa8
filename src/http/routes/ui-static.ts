import { createHash } from 'node:crypto';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import type { FastifyPluginAsync, FastifyReply, FastifyRequest } from 'fastify';
import { Errors } from '../../errors.js';

declare module 'fastify' {
  interface FastifyContextConfig {
    /** Served without the token even when reads are protected: the UI's page must load to ask for it. */
    public?: boolean;
  }
}

export interface UiStaticOptions {
  /** The directory `npm run build` writes the bundle to (dist/ui). */
  dir: string;
}

interface Asset {
  body: Buffer;
  type: string;
  etag: string;
}

const TYPES: Readonly<Record<string, string | undefined>> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
};
/** The bundle is a handful of small files; anything larger in the directory is not ours to serve. */
const MAX_ASSET_BYTES = 1024 * 1024;
const MAX_ASSETS = 32;

// Everything the page loads comes from this server: no CDN, no remote font, no inline script.
const SECURITY_HEADERS: Readonly<Record<string, string>> = {
  'content-security-policy':
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; " +
    "frame-ancestors 'none'; base-uri 'none'; form-action 'none'",
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
};

/**
 * The web UI's files, read into memory once at start-up: the routes serve only names found
 * then (no path from the URL ever reaches the file system), with an ETag, and `no-cache` so
 * a browser revalidates (a 304) and picks up a new build at once. Without a build, /ui/ answers
 * 503 ui_not_built.
 */
export const uiStaticRoutes: FastifyPluginAsync<UiStaticOptions> = async (app, options) => {
  const assets = readAssets(options.dir);
  const serve = (name: string) => async (request: FastifyRequest, reply: FastifyReply) => {
    const asset = assets.get(name);
    if (asset === undefined) {
      if (assets.size === 0) throw Errors.uiNotBuilt(options.dir);
      throw Errors.routeNotFound(request.method, request.url.split('?', 1)[0]);
    }
    void reply.headers(SECURITY_HEADERS).header('cache-control', 'no-cache').header('etag', asset.etag);
    if (request.headers['if-none-match'] === asset.etag) return reply.code(304).send();
    return reply.type(asset.type).send(asset.body);
  };
  const config = { public: true };
  app.get('/ui', { config }, async (_request, reply) => reply.redirect('/ui/', 301));
  app.get('/ui/', { config }, serve('index.html'));
  app.get<{ Params: { file: string } }>('/ui/:file', { config }, (request, reply) =>
    serve(request.params.file)(request, reply),
  );
};

function readAssets(dir: string): Map<string, Asset> {
  const assets = new Map<string, Asset>();
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch {
    return assets;
  }
  for (const name of names.sort()) {
    const type = TYPES[name.slice(name.lastIndexOf('.'))];
    if (type === undefined || assets.size >= MAX_ASSETS) continue;
    const path = join(dir, name);
    const stat = statSync(path);
    if (!stat.isFile() || stat.size > MAX_ASSET_BYTES) continue;
    const body = readFileSync(path);
    const etag = `"${createHash('sha256').update(body).digest('base64url').slice(0, 22)}"`;
    assets.set(name, { body, type, etag });
  }
  if (!assets.has('index.html')) assets.clear();
  return assets;
}
