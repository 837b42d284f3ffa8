/**
 * Hardening, bad input: every malformed registration, check definition and query we could think
 * of is a 4xx in the standard shape that leaves the catalog exactly as it was, and the server
 * still takes a valid registration afterwards. What is legitimately accepted (printable unicode,
 * SQL and shell metacharacters inside free text, keys that merely look like prototype keys)
 * round-trips exactly, through the database too.
 *
 * Bodies are mostly raw JSON text, so inputs JSON.stringify cannot produce (1e400, lone
 * surrogates as `\ud800`, duplicate keys, 200,000 levels of nesting) reach the server as sent.
 */
import t from 'tap';
import type { Test as TestContext } from 'tap';
import { tempDir } from '../helpers/catalog.js';
import { httpCall } from '../helpers/fault-targets.js';
import { json, startTestKonsul, type TestKonsul } from '../helpers/konsul.js';

interface ErrorBody {
  error: { code: string; message: string };
}

interface Case {
  what: string;
  method?: 'GET' | 'PUT' | 'DELETE';
  url?: string;
  /** A string is sent as it is (raw JSON); anything else is JSON.stringify'd. */
  body?: unknown;
  contentType?: string;
  /** The exact code, when one is certain; otherwise any snake_case code passes. */
  code?: string;
  status?: number;
}

const VALID = { name: 'web', address: '10.0.0.1', port: 8080 };
const BASE = '"name":"web","address":"10.0.0.1","port":8080';
/** Registered before every table: gives service-names content and owns check id "taken". */
const BASELINE = {
  id: 'base',
  name: 'base',
  address: '10.9.9.9',
  port: 9,
  checks: [{ id: 'taken', type: 'ttl', ttl: '30s' }],
};
const SNAKE_CASE = /^[a-z]+(_[a-z]+)*$/;

const reg = (fields: Record<string, unknown>): string => JSON.stringify({ ...VALID, ...fields });
const withCheck = (check: unknown): string => JSON.stringify({ ...VALID, checks: [check] });
const nested = (depth: number, open: string, close: string, inner = '1'): string =>
  `${open.repeat(depth)}${inner}${close.repeat(depth)}`;

async function send(server: TestKonsul, c: Case) {
  const payload = c.body === undefined ? undefined : typeof c.body === 'string' ? c.body : JSON.stringify(c.body);
  return server.app.inject({
    method: c.method ?? (c.body === undefined ? 'GET' : 'PUT'),
    url: c.url ?? '/catalog/register',
    ...(payload === undefined ? {} : { payload, headers: { 'content-type': c.contentType ?? 'application/json' } }),
  });
}

async function serviceNames(server: TestKonsul): Promise<string> {
  return (await server.app.inject({ method: 'GET', url: '/catalog/service-names' })).body;
}

/** One assertion per case: a 4xx, the standard shape, a snake_case code, a message, and no change. */
async function expectRefused(t: TestContext, server: TestKonsul, c: Case): Promise<void> {
  const index = server.catalog.index;
  const names = await serviceNames(server);
  const response = await send(server, c);
  let body: unknown;
  try {
    body = JSON.parse(response.body);
  } catch {
    body = response.body;
  }
  const error = (body as Partial<ErrorBody> | null)?.error;
  const got = {
    status: response.statusCode >= 400 && response.statusCode < 500 ? (c.status ?? '4xx') : response.statusCode,
    shape:
      body !== null &&
      typeof body === 'object' &&
      Object.keys(body).join() === 'error' &&
      error !== undefined &&
      Object.keys(error).sort().join() === 'code,message',
    code: typeof error?.code === 'string' && SNAKE_CASE.test(error.code) ? (c.code ?? 'snake_case') : error?.code,
    message: typeof error?.message === 'string' && error.message.length > 0,
    indexUnchanged: server.catalog.index === index,
    serviceNamesUnchanged: (await serviceNames(server)) === names,
  };
  if (c.status !== undefined && response.statusCode !== c.status) got.status = response.statusCode;
  if (c.code !== undefined && error?.code !== c.code) got.code = error?.code;
  t.same(
    got,
    {
      status: c.status ?? '4xx',
      shape: true,
      code: c.code ?? 'snake_case',
      message: true,
      indexUnchanged: true,
      serviceNamesUnchanged: true,
    },
    `${c.what}: ${response.statusCode} ${response.body.slice(0, 160)}`,
  );
}

async function expectAlive(t: TestContext, server: TestKonsul): Promise<void> {
  const response = await server.app.inject({
    method: 'PUT',
    url: '/catalog/register',
    payload: { ...VALID, id: `alive-${server.catalog.index}` },
  });
  t.equal(response.statusCode, 200, 'a valid registration still succeeds afterwards');
}

async function startWithBaseline(t: TestContext, overrides = {}): Promise<TestKonsul> {
  const server = await startTestKonsul(t, overrides);
  const response = await server.app.inject({ method: 'PUT', url: '/catalog/register', payload: BASELINE });
  t.equal(response.statusCode, 200, 'the baseline instance is registered');
  return server;
}

const REGISTRATIONS: Case[] = [
  // wrong types
  ...[42, null, true, [], {}].map((name) => ({
    what: `name ${JSON.stringify(name)}`,
    body: reg({ name }),
    code: 'validation_failed',
  })),
  ...[42, null, ['10.0.0.1'], {}].map((address) => ({
    what: `address ${JSON.stringify(address)}`,
    body: reg({ address }),
    code: 'validation_failed',
  })),
  ...['8080', null, true, [8080], {}, 80.5].map((port) => ({
    what: `port ${JSON.stringify(port)}`,
    body: reg({ port }),
    code: 'validation_failed',
  })),
  ...['3', null, 2.5, [1]].map((weight) => ({
    what: `weight ${JSON.stringify(weight)}`,
    body: reg({ weight }),
    code: 'validation_failed',
  })),
  ...[{ a: 1 }, 'v1', [1], [null], [[]], [{}]].map((tags) => ({
    what: `tags ${JSON.stringify(tags)}`,
    body: reg({ tags }),
    code: 'validation_failed',
  })),
  ...['a=b', ['a'], { a: null }, { a: {} }, { a: ['x'] }, { a: true }].map((meta) => ({
    what: `meta ${JSON.stringify(meta)}`,
    body: reg({ meta }),
    code: 'validation_failed',
  })),
  ...[42, null, '', true].map((id) => ({
    what: `id ${JSON.stringify(id)}`,
    body: reg({ id }),
    code: 'validation_failed',
  })),
  { what: 'region as a number', body: reg({ region: 42 }), code: 'validation_failed' },
  { what: 'zone empty', body: reg({ zone: '' }), code: 'validation_failed' },
  { what: 'checks as an object', body: reg({ checks: { type: 'ttl', ttl: '1s' } }), code: 'validation_failed' },
  { what: 'checks holding null', body: reg({ checks: [null] }), code: 'validation_failed' },
  { what: 'checks holding a string', body: reg({ checks: ['ttl'] }), code: 'validation_failed' },
  // out of range, and numbers JSON allows but no field can hold
  ...[0, -1, 65536, 2 ** 31, 2 ** 53].map((port) => ({
    what: `port ${port}`,
    body: reg({ port }),
    code: 'validation_failed',
  })),
  ...[0, -1, 1001].map((weight) => ({ what: `weight ${weight}`, body: reg({ weight }), code: 'validation_failed' })),
  {
    what: 'port 1e400 (Infinity once parsed)',
    body: `{"name":"web","address":"10.0.0.1","port":1e400}`,
    code: 'validation_failed',
  },
  { what: 'port -1e400', body: `{"name":"web","address":"10.0.0.1","port":-1e400}`, code: 'validation_failed' },
  {
    what: 'port 1e-400 (zero once parsed)',
    body: `{"name":"web","address":"10.0.0.1","port":1e-400}`,
    code: 'validation_failed',
  },
  { what: 'port -0', body: `{"name":"web","address":"10.0.0.1","port":-0}`, code: 'validation_failed' },
  {
    what: 'port 9007199254740993',
    body: `{"name":"web","address":"10.0.0.1","port":9007199254740993}`,
    code: 'validation_failed',
  },
  { what: 'weight 1e400', body: `{${BASE},"weight":1e400}`, code: 'validation_failed' },
  { what: 'port NaN (not JSON)', body: `{"name":"web","address":"10.0.0.1","port":NaN}`, code: 'malformed_json' },
  {
    what: 'port Infinity (not JSON)',
    body: `{"name":"web","address":"10.0.0.1","port":Infinity}`,
    code: 'malformed_json',
  },
  { what: 'port 0x50 (not JSON)', body: `{"name":"web","address":"10.0.0.1","port":0x50}`, code: 'malformed_json' },
  // oversize strings and arrays
  { what: 'name of 64 characters', body: reg({ name: 'a'.repeat(64) }), code: 'validation_failed' },
  {
    what: 'address of 254 characters',
    body: reg({ address: `${'a'.repeat(63)}.`.repeat(4).slice(0, 254) }),
    code: 'validation_failed',
  },
  { what: '65 tags', body: reg({ tags: Array.from({ length: 65 }, (_, i) => `t${i}`) }), code: 'validation_failed' },
  { what: '100,000 tags', body: reg({ tags: Array.from({ length: 100_000 }, () => 't') }), code: 'validation_failed' },
  { what: 'a tag of 256 characters', body: reg({ tags: ['x'.repeat(256)] }), code: 'validation_failed' },
  {
    what: 'a tag of 256 emoji (code points are counted)',
    body: reg({ tags: ['🚀'.repeat(256)] }),
    code: 'validation_failed',
  },
  {
    what: '65 meta pairs',
    body: reg({ meta: Object.fromEntries(Array.from({ length: 65 }, (_, i) => [`k${i}`, 'v'])) }),
    code: 'validation_failed',
  },
  { what: 'a meta key of 129 characters', body: reg({ meta: { ['k'.repeat(129)]: 'v' } }), code: 'validation_failed' },
  { what: 'a meta value of 513 characters', body: reg({ meta: { k: 'v'.repeat(513) } }), code: 'validation_failed' },
  { what: 'an id of 257 characters', body: reg({ id: 'i'.repeat(257) }), code: 'validation_failed' },
  { what: 'a region of 129 characters', body: reg({ region: 'r'.repeat(129) }), code: 'validation_failed' },
  {
    what: '33 checks',
    body: reg({ checks: Array.from({ length: 33 }, (_, i) => ({ id: `c${i}`, type: 'ttl', ttl: '10s' })) }),
    code: 'validation_failed',
  },
  // unicode and control characters where only ASCII (or printable text) belongs
  { what: 'an emoji name', body: reg({ name: '🚀' }), code: 'validation_failed' },
  { what: 'a name with a right-to-left override', body: reg({ name: 'web\u202e' }), code: 'validation_failed' },
  { what: 'a name with a combining accent', body: reg({ name: 'we\u0301b' }), code: 'validation_failed' },
  { what: 'a name with a NUL', body: reg({ name: 'web\u0000' }), code: 'validation_failed' },
  { what: 'an emoji id', body: reg({ id: 'web-🚀' }), code: 'validation_failed' },
  { what: 'an IDN address', body: reg({ address: 'wéb.example' }), code: 'validation_failed' },
  { what: 'an address with a NUL', body: reg({ address: '10.0.0.1\u0000' }), code: 'validation_failed' },
  { what: 'an address with a newline', body: reg({ address: 'localhost\n' }), code: 'validation_failed' },
  { what: 'a region with a right-to-left mark', body: reg({ region: 'eu\u200fwest' }), code: 'validation_failed' },
  ...[
    ['NUL', '\u0000'],
    ['BEL', 'a\u0007b'],
    ['ESC (an ANSI colour)', '\u001b[31mred'],
    ['DEL', 'a\u007f'],
    ['NEL (a C1 control)', 'a\u0085b'],
    ['CSI (a C1 control)', '\u009b31m'],
  ].flatMap(([label, text]) => [
    { what: `a tag with ${label}`, body: reg({ tags: [text] }), code: 'validation_failed' },
    { what: `a meta value with ${label}`, body: reg({ meta: { k: text } }), code: 'validation_failed' },
  ]),
  { what: 'a lone high surrogate tag (\\ud800)', body: `{${BASE},"tags":["\\ud800"]}`, code: 'validation_failed' },
  { what: 'a lone low surrogate tag (\\udfff)', body: `{${BASE},"tags":["a\\udfffb"]}`, code: 'validation_failed' },
  { what: 'a reversed surrogate pair tag', body: `{${BASE},"tags":["\\udc00\\ud800"]}`, code: 'validation_failed' },
  { what: 'a lone surrogate meta value', body: `{${BASE},"meta":{"k":"\\ud83d"}}`, code: 'validation_failed' },
  { what: 'an emoji meta key', body: reg({ meta: { '🚀': 'v' } }), code: 'validation_failed' },
  // SQL and shell metacharacters where identifiers belong
  {
    what: 'a name that is an SQL injection',
    body: reg({ name: "'; DROP TABLE instances; --" }),
    code: 'validation_failed',
  },
  { what: 'an id that is an SQL tautology', body: reg({ id: "1' OR '1'='1" }), code: 'validation_failed' },
  {
    what: 'an address with an SQL tail',
    body: reg({ address: "10.0.0.1'; DROP TABLE instances; --" }),
    code: 'validation_failed',
  },
  { what: 'a region with an SQL comment', body: reg({ region: "eu'--" }), code: 'validation_failed' },
  { what: 'a meta key with a quote', body: reg({ meta: { "a';--": 'v' } }), code: 'validation_failed' },
  { what: 'a name with a command substitution', body: reg({ name: '$(reboot)' }), code: 'validation_failed' },
  { what: 'an id with backticks', body: reg({ id: '`id`' }), code: 'validation_failed' },
  {
    what: 'an address with a command after it',
    body: reg({ address: '127.0.0.1;rm -rf /' }),
    code: 'validation_failed',
  },
  { what: 'an address with a command substitution', body: reg({ address: '$(curl evil)' }), code: 'validation_failed' },
  { what: 'a zone with a pipe', body: reg({ zone: 'a|cat' }), code: 'validation_failed' },
  // prototype pollution
  { what: '__proto__ at the top level', body: `{${BASE},"__proto__":{"admin":true}}`, code: 'malformed_json' },
  {
    what: '__proto__ spelt with escapes',
    body: `{${BASE},"\\u005f\\u005fproto\\u005f\\u005f":{"admin":true}}`,
    code: 'malformed_json',
  },
  {
    what: 'constructor.prototype at the top level',
    body: `{${BASE},"constructor":{"prototype":{"admin":true}}}`,
    code: 'malformed_json',
  },
  { what: 'constructor at the top level', body: `{${BASE},"constructor":"x"}`, code: 'validation_failed' },
  { what: 'prototype at the top level', body: `{${BASE},"prototype":{"admin":true}}`, code: 'validation_failed' },
  { what: '__proto__ inside meta', body: `{${BASE},"meta":{"__proto__":"x"}}`, code: 'malformed_json' },
  {
    what: '__proto__ object inside meta',
    body: `{${BASE},"meta":{"__proto__":{"polluted":"yes"}}}`,
    code: 'malformed_json',
  },
  {
    what: 'constructor.prototype inside meta',
    body: `{${BASE},"meta":{"constructor":{"prototype":{"polluted":"yes"}}}}`,
    code: 'malformed_json',
  },
  {
    what: 'prototype as an object inside meta',
    body: `{${BASE},"meta":{"prototype":{"polluted":"yes"}}}`,
    code: 'validation_failed',
  },
  {
    what: '__proto__ inside checks[].headers',
    body: `{${BASE},"checks":[{"type":"http","http":"http://127.0.0.1/","headers":{"__proto__":"x"}}]}`,
    code: 'malformed_json',
  },
  {
    what: 'constructor.prototype inside checks[].headers',
    body: `{${BASE},"checks":[{"type":"http","http":"http://127.0.0.1/","headers":{"constructor":{"prototype":{"x":"1"}}}}]}`,
    code: 'malformed_json',
  },
  {
    what: '__proto__ inside a check',
    body: `{${BASE},"checks":[{"type":"ttl","ttl":"1s","__proto__":{"status":"passing"}}]}`,
    code: 'malformed_json',
  },
  // deep nesting, and documents that are not one JSON object
  { what: '200,000 nested arrays inside meta', body: `{${BASE},"meta":{"a":${nested(200_000, '[', ']')}}}` },
  {
    what: '50,000 nested objects inside checks[].headers',
    body: `{${BASE},"checks":[{"type":"http","http":"http://127.0.0.1/","headers":{"a":${nested(50_000, '{"a":', '}')}}}]}`,
  },
  { what: '300,000 nested arrays as the body', body: nested(300_000, '[', ']') },
  { what: 'an empty body', body: '', code: 'malformed_json' },
  { what: 'null as the body', body: 'null' },
  { what: 'true as the body', body: 'true', code: 'validation_failed' },
  { what: 'a number as the body', body: '1e400', code: 'validation_failed' },
  { what: 'an empty array as the body', body: '[]', code: 'validation_failed' },
  { what: 'an empty object as the body', body: '{}', code: 'validation_failed' },
  { what: 'a truncated document', body: `{${BASE}`, code: 'malformed_json' },
  { what: 'trailing garbage', body: `{${BASE}} x`, code: 'malformed_json' },
  { what: 'two documents', body: `{${BASE}}{${BASE}}`, code: 'malformed_json' },
  { what: 'a comment', body: `// hi\n{${BASE}}`, code: 'malformed_json' },
  { what: 'single quotes', body: `{'name':'web','address':'10.0.0.1','port':8080}`, code: 'malformed_json' },
  { what: 'a trailing comma', body: `{${BASE},}`, code: 'malformed_json' },
  { what: 'a duplicate key whose last value is invalid', body: `{${BASE},"name":"Web!"}`, code: 'validation_failed' },
  {
    what: 'a form-encoded body',
    body: 'name=web&address=10.0.0.1&port=8080',
    contentType: 'application/x-www-form-urlencoded',
    code: 'unsupported_media_type',
    status: 415,
  },
  { what: 'a text/plain body', body: reg({}), contentType: 'text/plain', code: 'unsupported_media_type', status: 415 },
  {
    what: 'a multipart body',
    body: '--x\r\n\r\n--x--',
    contentType: 'multipart/form-data; boundary=x',
    code: 'unsupported_media_type',
    status: 415,
  },
  {
    what: 'a JSON look-alike media type',
    body: reg({}),
    contentType: 'application/jsonx',
    code: 'unsupported_media_type',
    status: 415,
  },
];

const CHECKS: Case[] = [
  ['no type', { ttl: '10s' }, 'validation_failed'],
  ['type HTTP in capitals', { type: 'HTTP', http: 'http://127.0.0.1/' }, 'validation_failed'],
  ['type script', { type: 'script', args: ['rm', '-rf', '/'] }, 'validation_failed'],
  ['type as a number', { type: 1 }, 'validation_failed'],
  ['an unknown field', { type: 'ttl', ttl: '10s', script: 'id' }, 'validation_failed'],
  ['Interval capitalised', { type: 'http', http: 'http://127.0.0.1/', Interval: '1s' }, 'validation_failed'],
  ['an http check without http', { type: 'http' }, 'invalid_check'],
  ['http that is not a URL', { type: 'http', http: 'not a url' }, 'invalid_check'],
  ['a javascript: URL', { type: 'http', http: 'javascript:alert(1)' }, 'invalid_check'],
  ['a file: URL', { type: 'http', http: 'file:///etc/passwd' }, 'invalid_check'],
  ['an ftp: URL', { type: 'http', http: 'ftp://127.0.0.1/' }, 'invalid_check'],
  [
    'http with CR LF header injection',
    { type: 'http', http: 'http://127.0.0.1/\r\nX-Injected: 1' },
    'validation_failed',
  ],
  ['http with a NUL', { type: 'http', http: 'http://127.0.0.1/\u0000' }, 'validation_failed'],
  ['http of 2049 characters', { type: 'http', http: `http://127.0.0.1/${'a'.repeat(2049 - 17)}` }, 'validation_failed'],
  ['an empty http', { type: 'http', http: '' }, 'validation_failed'],
  ['method with a path', { type: 'http', http: 'http://127.0.0.1/', method: 'GET /' }, 'validation_failed'],
  ['method with CR LF', { type: 'http', http: 'http://127.0.0.1/', method: 'GET\r\n' }, 'validation_failed'],
  ['method of 17 letters', { type: 'http', http: 'http://127.0.0.1/', method: 'G'.repeat(17) }, 'validation_failed'],
  ['an empty method', { type: 'http', http: 'http://127.0.0.1/', method: '' }, 'validation_failed'],
  ['headers as an array', { type: 'http', http: 'http://127.0.0.1/', headers: ['a: b'] }, 'validation_failed'],
  [
    'a header name with a space',
    { type: 'http', http: 'http://127.0.0.1/', headers: { 'bad name': 'x' } },
    'validation_failed',
  ],
  [
    'a header name with a colon',
    { type: 'http', http: 'http://127.0.0.1/', headers: { 'a:b': 'x' } },
    'validation_failed',
  ],
  [
    'a header value that is a number',
    { type: 'http', http: 'http://127.0.0.1/', headers: { a: 1 } },
    'validation_failed',
  ],
  [
    'a header value with CR LF',
    { type: 'http', http: 'http://127.0.0.1/', headers: { a: 'x\r\nInjected: 1' } },
    'validation_failed',
  ],
  [
    'a header value with a lone surrogate',
    { type: 'http', http: 'http://127.0.0.1/', headers: { a: '\ud800' } },
    'validation_failed',
  ],
  [
    '33 headers',
    {
      type: 'http',
      http: 'http://127.0.0.1/',
      headers: Object.fromEntries(Array.from({ length: 33 }, (_, i) => [`h${i}`, 'v'])),
    },
    'validation_failed',
  ],
  [
    'a header name of 129 characters',
    { type: 'http', http: 'http://127.0.0.1/', headers: { ['h'.repeat(129)]: 'v' } },
    'validation_failed',
  ],
  [
    'a header value of 4097 characters',
    { type: 'http', http: 'http://127.0.0.1/', headers: { h: 'v'.repeat(4097) } },
    'validation_failed',
  ],
  ['a tcp check without tcp', { type: 'tcp' }, 'invalid_check'],
  ['tcp without a port', { type: 'tcp', tcp: 'localhost' }, 'invalid_check'],
  ['tcp port 0', { type: 'tcp', tcp: 'localhost:0' }, 'invalid_check'],
  ['tcp port 65536', { type: 'tcp', tcp: 'localhost:65536' }, 'invalid_check'],
  ['tcp port 99999', { type: 'tcp', tcp: 'localhost:99999' }, 'invalid_check'],
  ['tcp IPv6 without a port', { type: 'tcp', tcp: '[::1]' }, 'invalid_check'],
  ['tcp IPv6 without brackets', { type: 'tcp', tcp: '::1:80' }, 'invalid_check'],
  ['tcp without a host', { type: 'tcp', tcp: ':80' }, 'invalid_check'],
  ['tcp with a space', { type: 'tcp', tcp: 'a b:80' }, 'invalid_check'],
  ['tcp with a command after it', { type: 'tcp', tcp: '127.0.0.1:80;ls' }, 'invalid_check'],
  ['tcp with a NUL in the host', { type: 'tcp', tcp: 'a\u0000b:80' }, 'validation_failed'],
  ['a ttl check without ttl', { type: 'ttl' }, 'invalid_check'],
  ['ttl 0s', { type: 'ttl', ttl: '0s' }, 'invalid_check'],
  ['ttl -1s', { type: 'ttl', ttl: '-1s' }, 'validation_failed'],
  ['ttl in days', { type: 'ttl', ttl: '1d' }, 'validation_failed'],
  ['ttl NaNs', { type: 'ttl', ttl: 'NaNs' }, 'validation_failed'],
  ['ttl Infinitys', { type: 'ttl', ttl: 'Infinitys' }, 'validation_failed'],
  ['ttl 1e400s', { type: 'ttl', ttl: '1e400s' }, 'validation_failed'],
  ['an empty ttl', { type: 'ttl', ttl: '' }, 'validation_failed'],
  ['a ttl of 65 characters', { type: 'ttl', ttl: '1s'.repeat(33).slice(0, 65) }, 'validation_failed'],
  ['ttl as a number', { type: 'ttl', ttl: 30 }, 'validation_failed'],
  ['an interval on a ttl check', { type: 'ttl', ttl: '10s', interval: '1s' }, 'invalid_check'],
  [
    'a timeout over the interval',
    { type: 'http', http: 'http://127.0.0.1/', interval: '1s', timeout: '2s' },
    'invalid_check',
  ],
  ['interval 0ms', { type: 'http', http: 'http://127.0.0.1/', interval: '0ms' }, 'invalid_check'],
  ['timeout 0s', { type: 'tcp', tcp: '127.0.0.1:80', interval: '1s', timeout: '0s' }, 'invalid_check'],
  ['ttl on an http check', { type: 'http', http: 'http://127.0.0.1/', ttl: '10s' }, 'invalid_check'],
  ['tcp on an http check', { type: 'http', http: 'http://127.0.0.1/', tcp: '127.0.0.1:80' }, 'invalid_check'],
  ['http on a tcp check', { type: 'tcp', tcp: '127.0.0.1:80', http: 'http://127.0.0.1/' }, 'invalid_check'],
  ['headers on a ttl check', { type: 'ttl', ttl: '10s', headers: { a: 'b' } }, 'invalid_check'],
  ...[101, -1, 1.5, '1', 1e300, null].map((n): [string, unknown, string] => [
    `successBeforePassing ${JSON.stringify(n)}`,
    { type: 'ttl', ttl: '10s', successBeforePassing: n },
    'validation_failed',
  ]),
  ...[101, -1, 2.5, '3'].map((n): [string, unknown, string] => [
    `failuresBeforeCritical ${JSON.stringify(n)}`,
    { type: 'ttl', ttl: '10s', failuresBeforeCritical: n },
    'validation_failed',
  ]),
  ...['PASSING', 'up', '', null, 1].map((status): [string, unknown, string] => [
    `status ${JSON.stringify(status)}`,
    { type: 'ttl', ttl: '10s', status },
    'validation_failed',
  ]),
  ['deregisterCriticalAfter later', { type: 'ttl', ttl: '10s', deregisterCriticalAfter: 'later' }, 'validation_failed'],
  ['deregisterCriticalAfter 0s', { type: 'ttl', ttl: '10s', deregisterCriticalAfter: '0s' }, 'invalid_check'],
  ['a check id with a slash', { id: 'a/b', type: 'ttl', ttl: '10s' }, 'validation_failed'],
  [
    'a check id that is an SQL injection',
    { id: "x'); DELETE FROM checks; --", type: 'ttl', ttl: '10s' },
    'validation_failed',
  ],
  ['a check id of 257 characters', { id: 'c'.repeat(257), type: 'ttl', ttl: '10s' }, 'validation_failed'],
  ['a check name with a NUL', { name: 'a\u0000', type: 'ttl', ttl: '10s' }, 'validation_failed'],
  ['a check name of 257 characters', { name: 'n'.repeat(257), type: 'ttl', ttl: '10s' }, 'validation_failed'],
  ['a check id another instance owns', { id: 'taken', type: 'ttl', ttl: '10s' }, 'check_id_taken'],
].map(([what, check, code]) => ({
  what: `a check with ${what as string}`,
  body: withCheck(check),
  code: code as string,
}));

CHECKS.push({
  what: 'two checks with one id',
  body: reg({
    checks: [
      { id: 'same', type: 'ttl', ttl: '10s' },
      { id: 'same', type: 'ttl', ttl: '20s' },
    ],
  }),
  code: 'duplicate_check_id',
});

const QUERIES: Case[] = (
  [
    ...[
      'NaN',
      'Infinity',
      '-Infinity',
      '1e400',
      '-1',
      '1.5',
      '',
      'abc',
      '100001',
      '1e6',
      '1&limit=2',
      '0x10',
      '1e1',
      '+3',
      '%203',
      '3.0',
      '0b11',
    ].map((v) => ({ what: `limit=${v}`, url: `/catalog/services/web?limit=${v}` })),
    ...[
      'NaN',
      'Infinity',
      '1e400',
      '-1',
      '1.5',
      '9007199254740992',
      '',
      'abc',
      '1&index=2',
      '-Infinity',
      '0x10',
      '1e1',
    ].map((v) => ({ what: `index=${v}`, url: `/catalog/services/web?index=${v}&wait=10ms` })),
    ...['', '-1s', '1d', 'NaNs', '1e400s', 'Infinity', '1s'.repeat(33), '1s&wait=2s'].map((v) => ({
      what: `wait=${v}`,
      url: `/catalog/services/web?index=1&wait=${v}`,
    })),
    { what: 'an empty lb', url: '/catalog/services/web?lb=' },
    { what: 'lb of 65 characters', url: `/catalog/services/web?lb=${'x'.repeat(65)}` },
    { what: 'an unknown lb', url: '/catalog/services/web?lb=nope', code: 'unknown_strategy' },
    {
      what: 'an SQL injection as lb',
      url: `/catalog/services/web?lb=${encodeURIComponent("'; DROP TABLE instances; --")}`,
      code: 'unknown_strategy',
    },
    { what: 'two lb values', url: '/catalog/services/web?lb=round-robin&lb=random' },
    { what: 'ring-hash without session-key', url: '/catalog/services/web?lb=ring-hash', code: 'missing_session_key' },
    {
      what: 'a session-key of 1025 characters',
      url: `/catalog/services/web?lb=ring-hash&session-key=${'k'.repeat(1025)}`,
    },
    ...['999.1.1.1', '1', '::g', '$(id)', `${'1'.repeat(65)}`].map((v) => ({
      what: `client-ip=${v}`,
      url: `/catalog/services/web?lb=ip-hash&client-ip=${encodeURIComponent(v)}`,
    })),
    { what: 'client-region with a space', url: '/catalog/services/web?lb=latency-based&client-region=eu%20west' },
    {
      what: 'client-region emoji',
      url: `/catalog/services/web?lb=latency-based&client-region=${encodeURIComponent('🚀')}`,
    },
    ...['yes', 'TRUE', '1', '', 'true&health-filter=false'].map((v) => ({
      what: `health-filter=${v}`,
      url: `/catalog/services/web?health-filter=${v}`,
    })),
    { what: 'passing=maybe', url: '/catalog/services/web?passing=maybe' },
    { what: 'an empty tag', url: '/catalog/services/web?tag=' },
    { what: 'a tag of 256 characters', url: `/catalog/services/web?tag=${'t'.repeat(256)}` },
    { what: 'a tag with NUL', url: '/catalog/services/web?tag=%00' },
    { what: 'a tag with a C1 control', url: '/catalog/services/web?tag=%C2%85' },
    { what: 'a tag with an escape sequence', url: '/catalog/services/web?tag=%1B%5B31m' },
    { what: '65 tags', url: `/catalog/services/web?${Array.from({ length: 65 }, (_, i) => `tag=t${i}`).join('&')}` },
    { what: 'a tag of 100,000 characters in a long URL', url: `/catalog/services/web?tag=${'t'.repeat(100_000)}` },
    { what: 'meta with a space in the key', url: '/catalog/services/web?meta=a%20b:1' },
    { what: 'meta without a key', url: '/catalog/services/web?meta=:v' },
    { what: 'meta with a 513-character value', url: `/catalog/services/web?meta=k:${'v'.repeat(513)}` },
    { what: 'meta with a control character', url: '/catalog/services/web?meta=k:%07' },
    { what: 'an unknown parameter', url: '/catalog/services/web?x=1' },
    { what: '__proto__ as a parameter', url: '/catalog/services/web?__proto__=1' },
    { what: '__proto__[admin] as a parameter', url: '/catalog/services/web?__proto__%5Badmin%5D=1' },
    { what: 'constructor as a parameter', url: '/catalog/services/web?constructor=x' },
    { what: 'prototype as a parameter', url: '/catalog/services/web?prototype=x' },
    { what: 'toString as a parameter', url: '/catalog/services/web?toString=x' },
    { what: 'name on the route that takes it from the path', url: '/catalog/services/web?name=api' },
    { what: 'a name parameter with a bang', url: '/catalog/services?name=web%21' },
    { what: 'two name parameters', url: '/catalog/services?name=web&name=api' },
    { what: 'an emoji service name', url: `/catalog/services/${encodeURIComponent('🚀')}` },
    { what: 'a service name with a NUL', url: '/catalog/services/web%00' },
    { what: 'a service name of 64 characters', url: `/catalog/services/${'s'.repeat(64)}` },
    { what: 'a service name that climbs the path', url: '/catalog/services/web%2F..%2F..%2Fetc%2Fpasswd' },
    {
      what: 'a service name that is an SQL injection',
      url: `/catalog/services/${encodeURIComponent("web' OR 1=1 --")}`,
    },
    { what: 'a broken %-escape in the path', url: '/catalog/services/%E0%A4%A', code: 'validation_failed' },
    { what: 'a %-escape that is no escape', url: '/catalog/instances/%ZZ', code: 'validation_failed' },
    {
      what: 'an instance id that is an SQL injection',
      url: `/catalog/instances/${encodeURIComponent("'; DROP TABLE instances; --")}`,
    },
    { what: 'an instance id of 257 characters', url: `/catalog/instances/${'i'.repeat(257)}` },
    {
      what: 'an instance id of 2,000 characters',
      url: `/catalog/instances/${'i'.repeat(2000)}`,
      code: 'validation_failed',
    },
    { what: 'an unknown instance', url: '/catalog/instances/nope', code: 'instance_not_found', status: 404 },
    { what: 'service-names with index=NaN', url: '/catalog/service-names?index=NaN' },
    { what: 'service-names with wait=forever', url: '/catalog/service-names?index=1&wait=forever' },
    { what: 'service-names with lb', url: '/catalog/service-names?lb=random' },
    { what: 'an unknown health state', url: '/health/state/bogus' },
    { what: 'checks of an invalid service name', url: '/health/checks/BAD_NAME' },
    { what: 'an unknown route', url: `/v2/${'x'.repeat(5000)}`, code: 'route_not_found', status: 404 },
    // writes addressed by path and query
    {
      what: 'DELETE of an SQL injection id',
      method: 'DELETE',
      url: `/catalog/instances/${encodeURIComponent("base' OR '1'='1")}`,
    },
    {
      what: 'DELETE of an unknown id',
      method: 'DELETE',
      url: '/catalog/instances/nope',
      code: 'instance_not_found',
      status: 404,
    },
    {
      what: 'DELETE on the short route with a shell id',
      method: 'DELETE',
      url: `/deregister/${encodeURIComponent('$(reboot)')}`,
    },
    { what: 'a load report of 1e400 ms', url: '/catalog/instances/base/load', body: '{"latencyMs":1e400}' },
    {
      what: 'a load report of -1e400 connections',
      url: '/catalog/instances/base/load',
      body: '{"connections":-1e400}',
    },
    {
      what: 'a load report with __proto__',
      url: '/catalog/instances/base/load',
      body: '{"connections":1,"__proto__":{"x":1}}',
      code: 'malformed_json',
    },
    { what: 'a TTL pass whose note is a number', url: '/health/check/taken/pass', body: '{"note":42}' },
    {
      what: 'a TTL pass whose note is 4097 characters',
      url: '/health/check/taken/pass',
      body: { note: 'n'.repeat(4097) },
    },
    { what: 'a TTL pass with an unknown field', url: '/health/check/taken/warn', body: { status: 'passing' } },
    {
      what: 'a TTL pass to a check id with a quote',
      url: `/health/check/${encodeURIComponent("taken'--")}/pass`,
      body: {},
    },
    {
      what: 'a TTL pass to an unknown check',
      url: '/health/check/nope/fail',
      body: {},
      code: 'check_not_found',
      status: 404,
    },
    {
      what: 'a heartbeat to an unknown instance',
      url: '/heartbeat/nope',
      body: {},
      code: 'instance_not_found',
      status: 404,
    },
    { what: 'a heartbeat with a 1e400 note', url: '/heartbeat/base', body: '{"note":1e400}' },
  ] as Case[]
).map((c) => ({ ...c, method: c.method ?? (c.body === undefined ? 'GET' : 'PUT') }));

t.test('every malformed registration is a 4xx in the standard shape and changes nothing', async (t) => {
  const server = await startWithBaseline(t);
  for (const c of REGISTRATIONS) await expectRefused(t, server, c);
  await expectAlive(t, server);
  t.equal(({} as Record<string, unknown>).admin, undefined, 'Object.prototype was not polluted');
  t.equal(({} as Record<string, unknown>).polluted, undefined);
});

t.test('every malformed check definition is a 4xx in the standard shape and changes nothing', async (t) => {
  const server = await startWithBaseline(t);
  for (const c of CHECKS) await expectRefused(t, server, c);
  await expectAlive(t, server);
});

t.test('every malformed query, path and small write is a 4xx in the standard shape and changes nothing', async (t) => {
  const server = await startWithBaseline(t);
  for (const c of QUERIES) await expectRefused(t, server, c);
  t.equal(server.catalog.findCheck('taken')?.check.status, 'critical', 'no refused TTL update reached the check');
  await expectAlive(t, server);
});

t.test(
  'a request line past the parser limit over a real socket is a 431 in the standard shape, and the server goes on',
  async (t) => {
    const server = await startWithBaseline(t);
    const index = server.catalog.index;
    const long = await httpCall(server.httpPort, 'GET', `/catalog/services/web?tag=${'t'.repeat(20_000)}`);
    t.equal(long.status, 431);
    t.same(Object.keys(JSON.parse(long.body) as object), ['error']);
    t.match(JSON.parse(long.body), { error: { code: 'headers_too_large', message: /larger than/ } });
    const hugeHeader = await httpCall(server.httpPort, 'PUT', '/catalog/register', VALID, {
      headers: { 'x-filler': 'f'.repeat(20_000) },
    });
    t.equal(hugeHeader.status, 431, 'an oversize header is refused the same way, before the body is read');
    // Just under the limit the URL reaches the router and its validation.
    const under = await httpCall(server.httpPort, 'GET', `/catalog/services/web?tag=${'t'.repeat(12_000)}`);
    t.equal(under.status, 400);
    t.match(JSON.parse(under.body), { error: { code: 'validation_failed', message: /querystring\.tag\[0\]/ } });
    t.equal(server.catalog.index, index, 'nothing was written');
    const ok = await httpCall(server.httpPort, 'PUT', '/catalog/register', VALID);
    t.equal(ok.status, 200, 'a valid registration over a socket still succeeds');
  },
);

t.test('bytes that are not HTTP get a 400 in the standard shape and a closed connection', async (t) => {
  const server = await startWithBaseline(t);
  const { connect } = await import('node:net');
  const answer = await new Promise<string>((resolve, reject) => {
    const socket = connect(server.httpPort, '127.0.0.1', () =>
      socket.write('GET / HTTP/1.1\r\nHost: x\r\nContent-Length: abc\r\n\r\n'),
    );
    let text = '';
    socket.on('data', (chunk: Buffer) => (text += chunk.toString('latin1')));
    socket.on('close', () => resolve(text));
    socket.on('error', reject);
    socket.setTimeout(5000, () => socket.destroy(new Error('no answer')));
  });
  t.match(answer, /^HTTP\/1\.1 400 /);
  const body = answer.slice(answer.indexOf('\r\n\r\n') + 4);
  t.same(JSON.parse(body), { error: { code: 'bad_request', message: 'The request is not valid HTTP' } });
  await expectAlive(t, server);
});

/** Free text that must come back exactly as sent, from memory and from the database. */
const ACCEPTED_TAGS = [
  '🚀',
  '👨‍👩‍👧', // a ZWJ sequence: five code points, one glyph
  '🇺🇦',
  'مرحبا',
  'abc\u202edef', // right-to-left override: printable text, however it displays
  'e\u0301', // combining accent
  'Z\u0324\u0354\u0367\u0311\u0313a\u0356\u032d\u0308\u0307l\u036e\u0312\u036b', // zalgo
  '漢字',
  'line\u2028separator',
  '\ufeffbom',
  '\ufffd',
  "'; DROP TABLE instances; --",
  "' OR '1'='1",
  '$(rm -rf /)',
  '`id`',
  '|| true && reboot; > /etc/passwd',
  '__proto__',
  'constructor',
  '%s%n%x',
  '../../etc/passwd',
  '<script>alert(1)</script>',
  '🚀'.repeat(255), // 255 code points is the limit, whatever their UTF-16 or UTF-8 length
  'x'.repeat(255),
];

const ACCEPTED_META: Record<string, string> = {
  constructor: 'x',
  prototype: 'y',
  toString: 'z',
  hasOwnProperty: 'w',
  valueOf: '1',
  __defineGetter__: 'g',
  sql: "'; DROP TABLE instances; --",
  shell: '$(reboot) && `id` | cat > /etc/passwd',
  emoji: '🚀 👨‍👩‍👧',
  rtl: '\u202eevil',
  empty: '',
  long: 'v'.repeat(512),
};

t.test(
  'printable unicode and metacharacters in free text are accepted and round-trip exactly, through a restart',
  async (t) => {
    const dataDir = tempDir(t);
    const first = await startTestKonsul(t, { storage: { dataDir } });
    const longId = `${'i'.repeat(250)}[a]:@`;
    const registrations = [
      { id: 'tags-and-meta', name: 'free', address: '10.0.0.1', port: 1, tags: ACCEPTED_TAGS, meta: ACCEPTED_META },
      { id: 'a:b@c~d+e=f[g].h_i-j', name: 'free', address: '10.0.0.2', port: 2 },
      { id: longId, name: 'free', address: '10.0.0.3', port: 3 },
      {
        id: 'headers',
        name: 'free',
        address: '10.0.0.4',
        port: 4,
        checks: [
          {
            id: 'hdr',
            type: 'http',
            http: 'http://127.0.0.1:9/$(id)?q=%27',
            headers: { constructor: 'x', prototype: 'y', 'x-latin1': 'caf\u00e9' },
            interval: '1h',
          },
        ],
      },
    ];
    for (const registration of registrations) {
      const response = await first.app.inject({ method: 'PUT', url: '/catalog/register', payload: registration });
      t.equal(response.statusCode, 200, `${registration.id.slice(0, 40)} is accepted`);
    }
    // An HTTP header value carries bytes up to U+00FF (RFC 9110 §5.5); Node cannot send more.
    const emojiHeader = await first.app.inject({
      method: 'PUT',
      url: '/catalog/register',
      payload: {
        id: 'emoji-header',
        name: 'free',
        address: '10.0.0.6',
        port: 6,
        checks: [{ type: 'http', http: 'http://127.0.0.1:9/', headers: { 'x-emoji': '🚀' } }],
      },
    });
    t.equal(emojiHeader.statusCode, 400, 'a header value HTTP cannot carry is refused');
    const port = await first.app.inject({
      method: 'PUT',
      url: '/catalog/register',
      payload: '{"id":"numbers","name":"free","address":"10.0.0.5","port":8.08e3,"weight":1E2}',
      headers: { 'content-type': 'application/json' },
    });
    t.equal(port.statusCode, 200, 'exponent notation that denotes an integer is an integer');

    const read = async (server: TestKonsul, id: string) =>
      json<Record<string, unknown>>(
        await server.app.inject({ method: 'GET', url: `/catalog/instances/${encodeURIComponent(id)}` }),
      );
    const verify = async (server: TestKonsul, when: string) => {
      const instance = await read(server, 'tags-and-meta');
      t.same(instance.tags, ACCEPTED_TAGS, `tags round-trip ${when}`);
      t.same(instance.meta, ACCEPTED_META, `meta round-trips ${when}`);
      t.equal(Object.getPrototypeOf(instance.meta), Object.prototype, 'meta is a plain object');
      t.equal(
        (await read(server, 'a:b@c~d+e=f[g].h_i-j')).id,
        'a:b@c~d+e=f[g].h_i-j',
        `an id using every allowed punctuation mark is addressable ${when}`,
      );
      t.equal((await read(server, longId)).id, longId, `a 256-character id is addressable ${when}`);
      t.match(await read(server, 'numbers'), { port: 8080, weight: 100 });
      t.same(
        server.catalog.instance('headers')?.checks[0].headers,
        { constructor: 'x', prototype: 'y', 'x-latin1': 'caf\u00e9' },
        `look-alike prototype header names are kept as plain keys ${when}`,
      );
      for (const tag of ["'; DROP TABLE instances; --", '🚀', 'e\u0301', '__proto__']) {
        const found = json<{ id: string }[]>(
          await server.app.inject({ method: 'GET', url: `/catalog/services/free?tag=${encodeURIComponent(tag)}` }),
        );
        t.same(
          found.map((i) => i.id),
          ['tags-and-meta'],
          `the tag ${JSON.stringify(tag)} finds it ${when}`,
        );
      }
      const byMeta = json<{ id: string }[]>(
        await server.app.inject({
          method: 'GET',
          url: `/catalog/services/free?meta=${encodeURIComponent(`constructor:x`)}&meta=${encodeURIComponent(`sql:${ACCEPTED_META.sql}`)}`,
        }),
      );
      t.same(
        byMeta.map((i) => i.id),
        ['tags-and-meta'],
        `meta filters on look-alike keys match exactly ${when}`,
      );
      const notInherited = json<{ id: string }[]>(
        await server.app.inject({
          method: 'GET',
          url: `/catalog/services/free?meta=${encodeURIComponent('isPrototypeOf:')}`,
        }),
      );
      t.same(notInherited, [], `an inherited property never matches a meta filter ${when}`);
    };
    await verify(first, 'from memory');
    const deleted = await first.app.inject({
      method: 'DELETE',
      url: `/catalog/instances/${encodeURIComponent(longId)}`,
    });
    t.equal(deleted.statusCode, 200, 'a 256-character id can be removed');
    const again = await first.app.inject({ method: 'PUT', url: '/catalog/register', payload: registrations[2] });
    t.equal(again.statusCode, 200);
    await first.close();

    const second = await startTestKonsul(t, { storage: { dataDir } });
    await verify(second, 'after a restart');
  },
);
