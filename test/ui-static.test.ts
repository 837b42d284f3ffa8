import { gzipSync } from 'node:zlib';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { builtUi } from './helpers/browser.js';
import { tempDir } from './helpers/catalog.js';
import { json, startTestKonsul } from './helpers/konsul.js';

/** The issue's budget for the whole UI, gzipped. */
const BUDGET_BYTES = 60 * 1024;

t.test('the built UI stays under 60 KB gzipped and loads nothing from elsewhere', async (t) => {
  const dir = await builtUi(t);
  const files = readdirSync(dir);
  t.same(files.sort(), ['app.css', 'app.js', 'index.html']);
  let total = 0;
  for (const file of files) {
    const body = readFileSync(join(dir, file));
    total += gzipSync(body, { level: 9 }).length;
    // No CDN, no remote font: every URL the page could load is relative to this server.
    t.notMatch(
      body.toString(),
      /(?:src|href)=["']?https?:|@import\s+url\(["']?https?:|fonts\.googleapis/,
      `${file} loads nothing remote`,
    );
  }
  t.ok(total < BUDGET_BYTES, `${total} bytes gzipped, budget ${BUDGET_BYTES}`);
});

t.test('/ui/ serves the bundle with content types, ETags and a strict CSP, and nothing else', async (t) => {
  const uiDir = await builtUi(t);
  const { app } = await startTestKonsul(t, { auth: { token: 's3cret', protectReads: true } }, { uiDir });
  const page = await app.inject({ method: 'GET', url: '/ui/' });
  t.equal(page.statusCode, 200, 'the page is served without the token, so it can ask for it');
  t.equal(page.headers['content-type'], 'text/html; charset=utf-8');
  t.match(page.headers['content-security-policy'], /default-src 'self'/);
  t.equal(page.headers['x-content-type-options'], 'nosniff');
  t.equal(page.headers['cache-control'], 'no-cache');
  const script = await app.inject({ method: 'GET', url: '/ui/app.js' });
  t.equal(script.headers['content-type'], 'text/javascript; charset=utf-8');
  const css = await app.inject({ method: 'GET', url: '/ui/app.css' });
  t.equal(css.headers['content-type'], 'text/css; charset=utf-8');
  const etag = script.headers.etag as string;
  t.match(etag, /^"[A-Za-z0-9_-]{22}"$/);
  const again = await app.inject({ method: 'GET', url: '/ui/app.js', headers: { 'if-none-match': etag } });
  t.equal(again.statusCode, 304);
  t.equal(again.body, '');
  const redirect = await app.inject({ method: 'GET', url: '/ui' });
  t.equal(redirect.statusCode, 301);
  t.equal(redirect.headers.location, '/ui/');
  for (const url of [
    '/ui/..%2Fpackage.json',
    '/ui/%2e%2e%2fkonsul.config.json',
    '/ui/../package.json',
    '/ui/nope.js',
  ]) {
    const response = await app.inject({ method: 'GET', url });
    // A 404, or the 401 every unrouted read gets while reads are protected: never the file.
    t.ok(response.statusCode === 404 || response.statusCode === 401, `${url} is not served (${response.statusCode})`);
    t.notMatch(response.body, /"(?:name|http)":/, `${url} leaks no file`);
  }
  // The UI's data routes are reads like any other: the token is needed.
  const overview = await app.inject({ method: 'GET', url: '/ui/api/overview' });
  t.equal(overview.statusCode, 401);
});

t.test('without a build /ui/ answers 503 ui_not_built; with ui.enabled false there is no /ui/', async (t) => {
  const { app } = await startTestKonsul(t, {}, { uiDir: tempDir(t) });
  const missing = await app.inject({ method: 'GET', url: '/ui/' });
  t.equal(missing.statusCode, 503);
  t.equal(json<{ error: { code: string } }>(missing).error.code, 'ui_not_built');
  const off = await startTestKonsul(t, { ui: { enabled: false } });
  t.equal((await off.app.inject({ method: 'GET', url: '/ui/' })).statusCode, 404);
  t.equal((await off.app.inject({ method: 'GET', url: '/ui/api/overview' })).statusCode, 404);
});
