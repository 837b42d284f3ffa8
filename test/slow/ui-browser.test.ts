import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import t, { type Test } from 'tap';
import type { Page } from 'playwright-core';
import { builtUi, launchChromium, openPage, screenshot } from '../helpers/browser.js';
import { json, startTestKonsul, type TestKonsul } from '../helpers/konsul.js';

const run = promisify(execFile);
const TOKEN = 'ui-secret';
/** How long a change made over the API may take to show: the bound. */
const LIVE_MS = 2000;
/** Waits for things that are not the live-update bound (first load, a resolve round trip). */
const LOAD_MS = 10_000;

interface Seed {
  id: string;
  service: string;
  address: string;
  status: 'passing' | 'warning' | 'critical';
  weight?: number;
  tags?: string[];
  meta?: Record<string, string>;
}

const SEEDS: Seed[] = [
  { id: 'w1', service: 'web', address: '10.0.0.1', status: 'passing', weight: 3, tags: ['v2'], meta: { tier: 'gold' } },
  { id: 'w2', service: 'web', address: '10.0.0.2', status: 'passing', tags: ['v2'] },
  { id: 'w3', service: 'web', address: '10.0.0.3', status: 'warning', tags: ['v1'] },
  { id: 'a1', service: 'api', address: '10.0.1.1', status: 'critical' },
  { id: 'a2', service: 'api', address: '10.0.1.2', status: 'passing' },
];

// One build and one browser for the file (each test opens its own context): both are slow to start.
t.setTimeout(300_000);
const uiDir = await builtUi(t);
const browser = await launchChromium(t);

async function startSeeded(t: Test, protectReads = false): Promise<TestKonsul> {
  // ip-hash keys DNS answers by the client's address: the UI's preview and dig both come from
  // 127.0.0.1, so they get the same order (a rotating strategy would give each its own turn).
  const server = await startTestKonsul(
    t,
    { dns: { enabled: true, port: 0, lb: 'ip-hash' }, auth: { token: TOKEN, protectReads } },
    { uiDir },
  );
  for (const seed of SEEDS) {
    await api(server, 'PUT', '/catalog/register', {
      id: seed.id,
      name: seed.service,
      address: seed.address,
      port: 8080,
      weight: seed.weight ?? 1,
      tags: seed.tags ?? [],
      meta: seed.meta ?? {},
      checks: [{ id: `${seed.id}-ttl`, type: 'ttl', ttl: '1h', status: seed.status }],
    });
  }
  return server;
}

async function api(server: TestKonsul, method: string, url: string, body?: object): Promise<unknown> {
  const response = await fetch(`http://127.0.0.1:${server.httpPort}${url}`, {
    method,
    headers: {
      authorization: `Bearer ${TOKEN}`,
      ...(body === undefined ? {} : { 'content-type': 'application/json' }),
    },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  const text = await response.text();
  if (!response.ok) throw new Error(`${method} ${url}: ${response.status} ${text}`);
  return json({ body: text });
}

const count = (page: Page, service: string, status: string) =>
  page.locator(`tr[data-service="${service}"] td[data-count="${status}"]`);

const idsIn = async (page: Page, selector: string): Promise<string[]> =>
  Promise.all(
    (await page.locator(`${selector} > li`).all()).map(async (item) => (await item.getAttribute('data-id')) ?? ''),
  );

/** dig's answer (and additional) lines with runs of blanks made one space, as the preview prints them. */
async function dig(server: TestKonsul, name: string, type: string, sections: string[]): Promise<string[]> {
  const { stdout } = await run('dig', [
    '@127.0.0.1',
    '-p',
    String(server.dns!.port),
    '+time=2',
    '+tries=1',
    '+noall',
    ...sections.map((section) => `+${section}`),
    name,
    type,
  ]);
  return stdout
    .split('\n')
    .filter((line) => line.trim() !== '' && !line.startsWith(';'))
    .map((line) => line.trim().split(/\s+/).join(' '));
}

t.test('the services view shows every service with its counts and follows the catalog live', async (t) => {
  const server = await startSeeded(t);
  const { page, errors } = await openPage(browser);
  await page.goto(`http://127.0.0.1:${server.httpPort}/ui/`);
  await count(page, 'web', 'passing').filter({ hasText: '2' }).waitFor({ timeout: LOAD_MS });
  t.equal(await count(page, 'web', 'warning').textContent(), '1');
  t.equal(await count(page, 'web', 'critical').textContent(), '0');
  t.equal(await count(page, 'api', 'critical').textContent(), '1');
  t.equal(await count(page, 'api', 'passing').textContent(), '1');
  await screenshot(page, 'services');

  // A registration over the API shows up without a reload, through the tab's blocking query.
  await api(server, 'PUT', '/catalog/register', { id: 'c1', name: 'cart', address: '10.0.2.1', port: 80 });
  await count(page, 'cart', 'passing').filter({ hasText: '1' }).waitFor({ timeout: LIVE_MS });
  t.pass('the new service appeared within 2 s');

  // The filters narrow the list: by name, by tag, by health.
  await page.getByLabel('Name').fill('we');
  await page.locator('tr[data-service="api"]').waitFor({ state: 'detached', timeout: LOAD_MS });
  t.equal(await page.locator('tr[data-service]').count(), 1, 'only web has "we" in its name');
  await page.getByLabel('Name').fill('');
  await page.getByLabel('Tag').fill('v1');
  await page.locator('tr[data-service="cart"]').waitFor({ state: 'detached', timeout: LOAD_MS });
  t.same(
    await Promise.all((await page.locator('tr[data-service]').all()).map((row) => row.getAttribute('data-service'))),
    ['web'],
    'only web has an instance tagged v1',
  );
  await page.getByLabel('Tag').fill('');
  await page.getByLabel('Health').selectOption('critical');
  await page.locator('tr[data-service="web"]').waitFor({ state: 'detached', timeout: LOAD_MS });
  t.equal(await page.locator('tr[data-service]').count(), 1, 'only api has a critical instance');

  // A phone-width window still shows the list.
  const phone = await openPage(browser, 390, 800);
  await phone.page.goto(`http://127.0.0.1:${server.httpPort}/ui/`);
  await count(phone.page, 'web', 'passing').waitFor({ timeout: LOAD_MS });
  const overflow = await phone.page.evaluate<number>('document.documentElement.scrollWidth - window.innerWidth');
  t.ok(overflow <= 0, `no sideways scrolling at 390 px (overflow ${overflow})`);
  await screenshot(phone.page, 'services-phone');
  t.same([...errors, ...phone.errors], [], 'no console errors');
});

t.test('a failing check turns an instance critical and takes it out of the resolved answer', async (t) => {
  const server = await startSeeded(t);
  const { page, errors } = await openPage(browser);
  await page.goto(`http://127.0.0.1:${server.httpPort}/ui/#/service/web`);
  await page.locator('[data-testid="resolved"] > li[data-id="w1"]').waitFor({ timeout: LOAD_MS });

  await api(server, 'PUT', '/health/check/w1-ttl/fail', { note: 'disk full' });
  await page.locator('[data-instance="w1"] [data-status="critical"]').waitFor({ timeout: LIVE_MS });
  await page
    .locator('[data-testid="excluded"] > li[data-id="w1"][data-reason="critical"]')
    .waitFor({ timeout: LIVE_MS });
  t.notOk((await idsIn(page, '[data-testid="resolved"]')).includes('w1'), 'w1 is out of the answer');
  await page.locator('.timeline li', { hasText: 'w1' }).first().waitFor({ timeout: LIVE_MS });
  t.match(await page.locator('.timeline').textContent(), /disk full/, 'the timeline shows the check output');
  await screenshot(page, 'service');
  t.same(errors, [], 'no console errors');
});

t.test('the resolve panel answers in the API order, and its DNS preview is what dig gets', async (t) => {
  const server = await startSeeded(t);
  const { page, errors } = await openPage(browser);
  await page.goto(`http://127.0.0.1:${server.httpPort}/ui/#/service/web`);
  await page.locator('[data-testid="resolved"] > li').first().waitFor({ timeout: LOAD_MS });

  await page.getByLabel('Strategy').first().selectOption('maglev');
  await page.getByLabel('Session key').fill('cart-991');
  await page.getByLabel('Passing only').check();
  await page.getByRole('button', { name: 'Resolve' }).click();
  await page.locator('.resolve p.muted', { hasText: 'Strategy maglev' }).waitFor({ timeout: LOAD_MS });
  await page.locator('[data-testid="excluded"] > li[data-reason="warning"]').waitFor({ timeout: LOAD_MS });
  const shown = await idsIn(page, '[data-testid="resolved"]');
  await server.lb.tablesBuilt();
  const fromApi = (await api(server, 'GET', '/catalog/services/web?lb=maglev&session-key=cart-991&passing=true')) as {
    id: string;
  }[];
  t.same(
    shown,
    fromApi.map((instance) => instance.id),
    'same order as the API',
  );
  t.same(shown.sort(), ['w1', 'w2']);

  // A meta filter: what it leaves out is named by the server's meta filter.
  await page.getByLabel('Meta').fill('tier:gold');
  await page.getByRole('button', { name: 'Resolve' }).click();
  await page.locator('[data-testid="excluded"] > li[data-id="w2"][data-reason="meta"]').waitFor({ timeout: LOAD_MS });
  t.same(await idsIn(page, '[data-testid="resolved"]'), ['w1'], 'only the gold instance answers');
  await page.getByLabel('Meta').fill('');
  await page.getByRole('button', { name: 'Resolve' }).click();
  // Several instances can be left out by the meta filter: wait until none is (first() of none is detached).
  await page
    .locator('[data-testid="excluded"] > li[data-reason="meta"]')
    .first()
    .waitFor({ state: 'detached', timeout: LOAD_MS });

  // The DNS preview is the DNS face's own answer: the same records dig receives.
  const previewA = (await page.locator('[data-testid="dns-A"]').textContent())!.split('\n');
  t.same(previewA, await dig(server, 'web.service.konsul', 'A', ['answer']), 'A records equal dig');
  const previewSrv = (await page.locator('[data-testid="dns-SRV"]').textContent())!.split('\n');
  t.same(previewSrv, await dig(server, 'web.service.konsul', 'SRV', ['answer', 'additional']), 'SRV equals dig');

  // The distribution chart: bars for the instances a query can answer.
  await page.locator('.distribution select').selectOption('maglev');
  await page.locator('.distribution p.muted', { hasText: '10,000 sample keys' }).waitFor({ timeout: LOAD_MS });
  t.equal(await page.locator('.chart g').count(), 3, 'one bar group per answerable instance');
  await screenshot(page, 'resolve', '.panels');
  t.same(errors, [], 'no console errors');
});

t.test('write actions are refused without the token and work with it', async (t) => {
  const server = await startSeeded(t);
  const { page, errors } = await openPage(browser);
  const base = `http://127.0.0.1:${server.httpPort}`;
  await page.goto(`${base}/ui/#/service/web`);
  await page.locator('[data-instance="w3"]').waitFor({ timeout: LOAD_MS });
  t.equal(await page.getByRole('button', { name: 'Deregister' }).count(), 0, 'read-only without a token');
  const refused = await page.evaluate(async () => (await fetch('/catalog/instances/w3', { method: 'DELETE' })).status);
  t.equal(refused, 401, 'the server refuses a write without the token');

  // The maintenance control is shown only when the server has the route.
  const probe = await fetch(`${base}/catalog/instances/nobody/maintenance`, {
    method: 'PUT',
    headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' },
    body: '{"enable":true}',
  });
  const hasMaintenance = ((await probe.json()) as { error?: { code: string } }).error?.code !== 'route_not_found';

  // A wrong token: the controls appear, and the server refuses.
  await page.getByText('Sign in').click();
  await page.getByLabel('Token').fill('not-the-token');
  await page.getByRole('button', { name: 'Use token' }).click();
  await page.locator('[data-instance="w3"]').getByRole('button', { name: 'Deregister' }).click();
  await page.locator('.status-line', { hasText: 'refused' }).waitFor({ timeout: LOAD_MS });
  t.ok(await page.locator('[data-instance="w3"]').isVisible(), 'still registered');
  t.equal(
    await page.getByRole('button', { name: 'Start maintenance' }).count(),
    hasMaintenance ? 3 : 0,
    'maintenance control follows the route',
  );

  await page.getByRole('button', { name: 'Forget token' }).click();
  await page.getByText('Sign in').click();
  await page.getByLabel('Token').fill(TOKEN);
  await page.getByRole('button', { name: 'Use token' }).click();
  t.notMatch(await page.evaluate<string>('location.href'), TOKEN, 'the token is never in the URL');
  await page.locator('[data-instance="w3"]').getByRole('button', { name: 'Deregister' }).click();
  await page.locator('[data-instance="w3"]').waitFor({ state: 'detached', timeout: LIVE_MS });
  const left = (await api(server, 'GET', '/catalog/services/web?health-filter=false')) as { id: string }[];
  t.same(left.map((instance) => instance.id).sort(), ['w1', 'w2']);
  t.equal(
    await page.evaluate<string | null>("sessionStorage.getItem('konsul.token')"),
    TOKEN,
    'kept in sessionStorage',
  );
  // The only console errors are Chromium's lines for the two refusals this test asked for.
  t.same(
    errors.filter((line) => !/status of 40[13]/.test(line)),
    [],
    'no other console errors',
  );
  t.equal(errors.length, 2, 'one 401 and one 403');
});

t.test('with reads protected the UI asks for the token before showing anything', async (t) => {
  const server = await startSeeded(t, true);
  const { page, errors } = await openPage(browser);
  await page.goto(`http://127.0.0.1:${server.httpPort}/ui/`);
  await page.getByLabel('Token').waitFor({ timeout: LOAD_MS });
  t.equal(await page.locator('tr[data-service]').count(), 0, 'nothing shown before the token');
  await screenshot(page, 'token');
  await page.getByLabel('Token').fill(TOKEN);
  await page.getByRole('button', { name: 'Use token' }).click();
  await count(page, 'web', 'passing').waitFor({ timeout: LOAD_MS });
  t.same(
    errors.filter((line) => !/status of 401/.test(line)),
    [],
    'no console errors besides the first refused read',
  );
});

t.test(
  'the services list shows the strategy each service answers with by default, and the panels follow it',
  async (t) => {
    const server = await startSeeded(t);
    const { page, errors } = await openPage(browser);
    const strategy = (service: string) => page.locator(`tr[data-service="${service}"] td[data-strategy]`);
    await page.goto(`http://127.0.0.1:${server.httpPort}/ui/`);
    await count(page, 'web', 'passing').waitFor({ timeout: LOAD_MS });
    t.equal(await strategy('web').getAttribute('data-strategy'), 'round-robin', 'no config: the server default');
    t.match(await strategy('web').textContent(), /server default/);

    // A per-service policy shows without a reload, and only on its own service.
    await api(server, 'PUT', '/catalog/services/web/config', { lb: 'maglev' });
    await page.locator('tr[data-service="web"] td[data-strategy="maglev"]').waitFor({ timeout: LIVE_MS });
    t.match(await strategy('web').textContent(), /service config/);
    t.equal(await strategy('api').getAttribute('data-strategy'), 'round-robin', 'api keeps the server default');
    await screenshot(page, 'services-strategy');

    // Until a service's first Maglev table is built (off the request path) its order comes from
    // rendezvous hashing, whose fallback positions may differ: build it before the panel asks, so
    // the panel's answer and the API's below both come from the table.
    await api(server, 'GET', '/catalog/services/web?session-key=cart-991');
    await server.lb.tablesBuilt();

    // The resolve and distribution panels start from the service's own default, as a client sending no lb.
    await page.locator('tr[data-service="web"] a').click();
    // maglev is keyed by the session: without a key the server refuses, and the panel says why.
    await page.locator('.resolve .error', { hasText: 'session-key' }).waitFor({ timeout: LOAD_MS });
    await page.getByLabel('Session key').fill('cart-991');
    await page.getByRole('button', { name: 'Resolve' }).click();
    await page.locator('.resolve p.muted', { hasText: 'Strategy maglev' }).waitFor({ timeout: LOAD_MS });
    await server.lb.tablesBuilt();
    const fromApi = (await api(server, 'GET', '/catalog/services/web?session-key=cart-991')) as { id: string }[];
    t.same(
      await idsIn(page, '[data-testid="resolved"]'),
      fromApi.map((instance) => instance.id),
      'the same answer as a query without lb',
    );
    await page.locator('.distribution p.muted', { hasText: '10,000 sample keys' }).waitFor({ timeout: LOAD_MS });
    t.equal(await page.locator('.distribution svg').getAttribute('aria-label'), 'Distribution of maglev');

    // Removing the policy brings the server default back.
    await api(server, 'DELETE', '/catalog/services/web/config');
    await page.goto(`http://127.0.0.1:${server.httpPort}/ui/#/`);
    await page.locator('tr[data-service="web"] td[data-strategy="round-robin"]').waitFor({ timeout: LIVE_MS });
    t.same(
      errors.filter((line) => !/status of 400/.test(line)),
      [],
      'no console errors besides the refused keyless query',
    );
    t.equal(errors.length, 1, 'one 400');
  },
);

t.test('with the token an instance goes into maintenance and out again; without it the server refuses', async (t) => {
  const server = await startSeeded(t);
  const { page, errors } = await openPage(browser);
  const base = `http://127.0.0.1:${server.httpPort}`;
  const card = page.locator('[data-instance="w2"]');
  const maintenanceOf = async () =>
    ((await api(server, 'GET', '/catalog/instances/w2')) as { maintenance?: { reason: string } }).maintenance;
  await page.goto(`${base}/ui/#/service/web`);
  await page.locator('[data-testid="resolved"] > li[data-id="w2"]').waitFor({ timeout: LOAD_MS });

  // Without a token: no control, and the server refuses the write the control sends.
  t.equal(await page.getByRole('button', { name: 'Start maintenance' }).count(), 0, 'read-only without a token');
  const refused = await page.evaluate(
    async () =>
      (
        await fetch('/catalog/instances/w2/maintenance', {
          method: 'PUT',
          headers: { 'content-type': 'application/json' },
          body: '{"enable":true}',
        })
      ).status,
  );
  t.equal(refused, 401, 'the server refuses maintenance without the token');

  // A wrong token: the control is there, the server refuses it, and the page says so.
  await page.getByText('Sign in').click();
  await page.getByLabel('Token').fill('not-the-token');
  await page.getByRole('button', { name: 'Use token' }).click();
  await card.getByRole('button', { name: 'Start maintenance' }).click();
  await page.locator('.status-line', { hasText: 'refused' }).waitFor({ timeout: LOAD_MS });
  t.equal(await maintenanceOf(), undefined, 'not in maintenance after the refusal');

  // The token: in maintenance, shown on the card and as the reason it leaves the answer.
  await page.getByRole('button', { name: 'Forget token' }).click();
  await page.getByText('Sign in').click();
  await page.getByLabel('Token').fill(TOKEN);
  await page.getByRole('button', { name: 'Use token' }).click();
  await card.getByRole('button', { name: 'Start maintenance' }).click();
  await card.locator('.badge.maintenance', { hasText: 'set from the web UI' }).waitFor({ timeout: LIVE_MS });
  await page
    .locator('[data-testid="excluded"] > li[data-id="w2"][data-reason="maintenance"]')
    .waitFor({ timeout: LIVE_MS });
  t.notOk((await idsIn(page, '[data-testid="resolved"]')).includes('w2'), 'w2 is out of the answer');
  t.equal((await maintenanceOf())?.reason, 'set from the web UI', 'the server holds it in maintenance');
  await screenshot(page, 'maintenance', '[data-instance="w2"]');

  // And out again.
  await card.getByRole('button', { name: 'End maintenance' }).click();
  await card.locator('.badge.maintenance').waitFor({ state: 'detached', timeout: LIVE_MS });
  await page.locator('[data-testid="resolved"] > li[data-id="w2"]').waitFor({ timeout: LIVE_MS });
  t.equal(await page.locator('[data-testid="excluded"] > li[data-id="w2"]').count(), 0, 'nothing leaves w2 out');
  t.equal(await maintenanceOf(), undefined, 'out of maintenance on the server');
  t.same(
    errors.filter((line) => !/status of 40[13]/.test(line)),
    [],
    'no console errors besides the two refusals asked for',
  );
  t.equal(errors.length, 2, 'one 401 and one 403');
});

t.test('every control of a service page has a name and is reached by the keyboard', async (t) => {
  const server = await startSeeded(t);
  const { page, errors } = await openPage(browser);
  // Signed in, so the write controls are on the page too.
  await page.addInitScript(`sessionStorage.setItem('konsul.token', ${JSON.stringify(TOKEN)})`);
  await page.goto(`http://127.0.0.1:${server.httpPort}/ui/#/service/web`);
  await page.locator('[data-testid="resolved"] > li').first().waitFor({ timeout: LOAD_MS });
  await page.locator('.distribution svg').waitFor({ timeout: LOAD_MS });

  // What a screen reader gets: a control without a name shows as its bare role.
  const tree = await page.locator('body').ariaSnapshot();
  const unnamed = tree
    .split('\n')
    .filter((line) => /^\s*- (button|textbox|searchbox|combobox|checkbox|link|spinbutton)\s*(:\s*)?$/.test(line));
  t.match(tree, /- textbox "Session key"/, 'a named control reads as role and name');
  t.match(tree, /- button "Start maintenance"/);
  t.same(unnamed, [], 'no unnamed control');

  // Tab through the page once: every control is reached, in some order.
  const controls = await page.evaluate<number>(`(() => {
    const all = [...document.querySelectorAll('a[href], button, input, select, summary')];
    all.forEach((element, n) => element.setAttribute('data-control', String(n)));
    return all.length;
  })()`);
  const reached = new Set<string>();
  for (let press = 0; press < controls + 5; press++) {
    await page.keyboard.press('Tab');
    const focused = await page.evaluate<string | null>("document.activeElement?.getAttribute('data-control') ?? null");
    if (focused !== null) reached.add(focused);
  }
  // Two links, Forget token, two writes per instance, nine in the resolve form, one in the chart's.
  t.equal(controls, 19, 'the page has its controls');
  t.equal(reached.size, controls, 'Tab reaches every control');
  t.same(errors, [], 'no console errors');
});

t.test('panic mode shows in the resolve panel, with the critical instance in the answer', async (t) => {
  const server = await startSeeded(t);
  const { page, errors } = await openPage(browser);
  // api has one of two instances healthy: 50 %, under a threshold of 60 %.
  await api(server, 'PUT', '/catalog/services/api/config', { panicThreshold: 60 });
  await page.goto(`http://127.0.0.1:${server.httpPort}/ui/#/service/api`);
  await page.locator('.resolve p.muted', { hasText: 'PANIC' }).waitFor({ timeout: LOAD_MS });
  t.same((await idsIn(page, '[data-testid="resolved"]')).sort(), ['a1', 'a2'], 'the critical a1 is answered too');
  const response = await fetch(`http://127.0.0.1:${server.httpPort}/catalog/services/api`);
  t.equal(response.headers.get('x-konsul-panic'), 'true', 'as the API says');
  t.same(errors, [], 'no console errors');
});
