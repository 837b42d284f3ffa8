import t from 'tap';
import { canonicalFieldNames, foldFieldName } from '../src/http/consul/field-names.js';
import { ConsulCheckBody, ConsulCheckUpdateBody, ConsulRegistrationBody } from '../src/http/consul/schemas.js';
import { json, startTestKonsul } from './helpers/konsul.js';

/**
 * /v1 request bodies are decoded as Consul decodes them: Go's encoding/json matches a key to a
 * field in any case, Consul's structs add snake_case aliases, user data keys are left alone and
 * unknown fields are refused.
 */

type Inject = Awaited<ReturnType<typeof startTestKonsul>>['app']['inject'];
const register = (inject: Inject, payload: string | object) =>
  inject({
    method: 'PUT',
    url: '/v1/agent/service/register',
    headers: { 'content-type': 'application/json' },
    payload,
  });

/** Every spelling Go's decoder accepts for a PascalCase field name, as a client may send it. */
function spellings(field: string): { style: string; key: string }[] {
  const camel = field.replace(/^[A-Z]+(?=[A-Z][a-z]|$)|^[A-Z]/, (head) => head.toLowerCase());
  return [
    { style: 'PascalCase', key: field },
    { style: 'camelCase', key: camel },
    { style: 'lower case', key: field.toLowerCase() },
    { style: 'upper case', key: field.toUpperCase() },
  ];
}

/** A value that passes each field's schema, so the decoded body can be compared whole. */
const SERVICE_VALUES: Record<string, unknown> = {
  ID: 'web-1',
  Name: 'web',
  Tags: ['Primary'],
  Address: '10.0.0.1',
  Port: 8080,
  Meta: { Version: '1' },
  Weights: { Passing: 3, Warning: 1 },
  Check: { TTL: '10s' },
  Checks: [{ TTL: '10s' }],
  EnableTagOverride: true,
  TaggedAddresses: { lan: { Address: '10.0.0.1', Port: 8080 } },
  Token: 'secret',
  Kind: '',
  Proxy: null,
  Connect: null,
  SocketPath: '',
  Ports: null,
  Namespace: 'default',
  Partition: 'default',
  Locality: null,
};

/** Consul's snake_case aliases (agent/structs ServiceDefinition and CheckType UnmarshalJSON). */
const SERVICE_ALIASES: [alias: string, field: string, value: unknown][] = [
  ['enable_tag_override', 'EnableTagOverride', true],
  ['tagged_addresses', 'TaggedAddresses', { wan: { Address: '192.0.2.1', Port: 80 } }],
];
const CHECK_ALIASES: [alias: string, field: string, value: unknown][] = [
  ['script_args', 'ScriptArgs', ['/bin/true']],
  ['deregister_critical_service_after', 'DeregisterCriticalServiceAfter', '5m'],
  ['docker_container_id', 'DockerContainerID', 'abc'],
  ['tls_server_name', 'TLSServerName', 'example.com'],
  ['tls_skip_verify', 'TLSSkipVerify', true],
  ['grpc_use_tls', 'GRPCUseTLS', true],
  ['h2ping_use_tls', 'H2PingUseTLS', true],
  ['service_id', 'ServiceID', 'web-1'],
];

t.test('every registration field is matched in PascalCase, camelCase, lower and upper case', async (t) => {
  const fields = Object.keys(ConsulRegistrationBody.properties);
  t.same(fields.sort(), Object.keys(SERVICE_VALUES).sort(), 'the table covers every field of the schema');
  for (const field of fields) {
    for (const { style, key } of spellings(field)) {
      t.same(
        canonicalFieldNames({ [key]: SERVICE_VALUES[field] }, ConsulRegistrationBody),
        { [field]: SERVICE_VALUES[field] },
        `${field} as ${style} (${key})`,
      );
    }
  }
});

t.test('every check field is matched in any case, inside Check and inside each of Checks', async (t) => {
  for (const field of Object.keys(ConsulCheckBody.properties)) {
    for (const { style, key } of spellings(field)) {
      t.same(
        canonicalFieldNames({ check: { [key]: 'x' }, checks: [{ ttl: '1s' }, { [key]: 'x' }] }, ConsulRegistrationBody),
        { Check: { [field]: 'x' }, Checks: [{ TTL: '1s' }, { [field]: 'x' }] },
        `${field} as ${style} (${key})`,
      );
    }
  }
  t.same(canonicalFieldNames({ status: 'passing', OUTPUT: 'ok' }, ConsulCheckUpdateBody), {
    Status: 'passing',
    Output: 'ok',
  });
});

t.test("Consul's snake_case aliases fill their field, in any case", async (t) => {
  for (const [alias, field, value] of SERVICE_ALIASES) {
    for (const key of [alias, alias.toUpperCase()])
      t.same(canonicalFieldNames({ [key]: value }, ConsulRegistrationBody), { [field]: value }, key);
  }
  for (const [alias, field, value] of CHECK_ALIASES) {
    for (const key of [alias, alias.toUpperCase()])
      t.same(
        canonicalFieldNames({ Check: { [key]: value } }, ConsulRegistrationBody),
        { Check: { [field]: value } },
        key,
      );
  }
});

t.test('the canonical spelling wins over an alias, and of two spellings of one field the last wins', async (t) => {
  // ServiceDefinition/CheckType.UnmarshalJSON: the alias only fills a field that was not sent
  // (deregister_critical_service_after) or was sent as its zero value (the others).
  t.same(
    canonicalFieldNames(
      { Check: { deregister_critical_service_after: '5m', DeregisterCriticalServiceAfter: '1m' } },
      ConsulRegistrationBody,
    ),
    { Check: { DeregisterCriticalServiceAfter: '1m' } },
  );
  t.same(canonicalFieldNames({ EnableTagOverride: false, enable_tag_override: true }, ConsulRegistrationBody), {
    EnableTagOverride: true,
  });
  t.same(canonicalFieldNames({ TaggedAddresses: { lan: {} }, tagged_addresses: { wan: {} } }, ConsulRegistrationBody), {
    TaggedAddresses: { lan: {} },
  });
  t.same(canonicalFieldNames({ Name: 'api', name: 'web' }, ConsulRegistrationBody), { Name: 'web' });
});

t.test('field names fold as Go folds them, including the Kelvin sign and the long s', async (t) => {
  t.equal(foldFieldName('EnableTagOverride'), 'enabletagoverride');
  t.equal(foldFieldName('\u212Aind'), 'kind');
  t.equal(foldFieldName('Tag\u017F'), 'tags');
  t.equal(foldFieldName('Stra\u00DFe'), 'stra\u00DFe', 'ß has no one-character upper case and stays');
  t.same(canonicalFieldNames({ '\u212Aind': '', 'tag\u017F': ['a'] }, ConsulRegistrationBody), {
    Kind: '',
    Tags: ['a'],
  });
});

t.test('user data keeps its keys exactly as sent', async (t) => {
  const decoded = canonicalFieldNames(
    {
      meta: { Version: '1', version: '2', tls_skip_verify: 'yes', Name: 'meta, not a field' },
      tags: ['Name', 'tls_skip_verify'],
      tagged_addresses: { LAN_ipv4: { address: '10.0.0.1', port: 80 } },
      check: { header: { 'X-Trace': ['a'], 'x-trace': ['b'] }, http: 'http://x/', interval: '1s' },
    },
    ConsulRegistrationBody,
  );
  t.same(decoded, {
    Meta: { Version: '1', version: '2', tls_skip_verify: 'yes', Name: 'meta, not a field' },
    Tags: ['Name', 'tls_skip_verify'],
    TaggedAddresses: { LAN_ipv4: { Address: '10.0.0.1', Port: 80 } },
    Check: { Header: { 'X-Trace': ['a'], 'x-trace': ['b'] }, HTTP: 'http://x/', Interval: '1s' },
  });
});

t.test('unknown fields are refused with 400 naming them, at any depth', async (t) => {
  const { app } = await startTestKonsul(t);
  const inject = app.inject.bind(app);
  const cases: [object, string][] = [
    [{ name: 'web', port: 80, porrt: 81 }, 'Request decode failed: porrt: is not a known field'],
    [
      { name: 'web', port: 80, check: { ttl: '10s', ttll: '5s' } },
      'Request decode failed: Check.ttll: is not a known field',
    ],
    [
      { name: 'web', port: 80, checks: [{ ttl: '10s' }, { bogus: 1 }] },
      'Request decode failed: Checks[1].bogus: is not a known field',
    ],
    [
      { name: 'web', port: 80, weights: { passing: 1, critical: 0 } },
      'Request decode failed: Weights.critical: is not a known field',
    ],
    [
      { name: 'web', port: 80, tagged_addresses: { lan: { address: '10.0.0.1', ip: 1 } } },
      'Request decode failed: TaggedAddresses.lan.ip: is not a known field',
    ],
    // Snake case only where Consul declares an alias: "enable_tag_override" is one, "socket_path" is not.
    [{ name: 'web', port: 80, socket_path: '' }, 'Request decode failed: socket_path: is not a known field'],
  ];
  for (const [payload, message] of cases) {
    const response = await register(inject, payload);
    t.equal(response.statusCode, 400, JSON.stringify(payload));
    t.equal(response.body, message);
  }
  t.same(json(await inject({ method: 'GET', url: '/v1/agent/services' })), {}, 'nothing was registered');
});

t.test('a lower-case registration is stored as its PascalCase twin, with user data untouched', async (t) => {
  const { app, catalog } = await startTestKonsul(t);
  const inject = app.inject.bind(app);
  const response = await register(inject, {
    name: 'web',
    id: 'web-1',
    address: '10.0.0.1',
    port: 8080,
    tags: ['Primary', 'primary'],
    meta: { Version: '1', version: '2' },
    enabletagoverride: true,
    checks: [
      {
        http: 'http://10.0.0.1:8080/health',
        interval: '10s',
        header: { 'X-Probe': ['a'] },
        deregister_critical_service_after: '5m',
      },
      { ttl: '30s', checkid: 'web-ttl', status: 'passing' },
    ],
  });
  t.equal(response.statusCode, 200, response.body);
  t.match(catalog.instance('web-1'), {
    name: 'web',
    address: '10.0.0.1',
    port: 8080,
    tags: ['Primary', 'primary'],
    meta: { Version: '1', version: '2' },
    status: 'critical',
    checks: [
      { type: 'http', http: 'http://10.0.0.1:8080/health', headers: { 'X-Probe': 'a' }, deregisterCriticalAfter: '5m' },
      { id: 'web-ttl', type: 'ttl', ttl: '30s' },
    ],
  });
  const update = await inject({
    method: 'PUT',
    url: '/v1/agent/check/update/web-ttl',
    payload: { status: 'warning', output: 'slow' },
  });
  t.equal(update.statusCode, 200, update.body);
  t.match(catalog.instance('web-1')?.checks[1], { status: 'warning', note: 'slow' });
  const refused = await register(inject, { name: 'web', port: 80, check: { ttl: '10s', tls_skip_verify: true } });
  t.equal(refused.statusCode, 400);
  t.match(refused.body, /TLSSkipVerify/, 'the alias reached the field it names');
});

t.test("a missing or empty name gets Consul's answer; a name that is no DNS label gets Konsul's reason", async (t) => {
  const { app } = await startTestKonsul(t);
  const inject = app.inject.bind(app);
  for (const [payload, message] of [
    [{ port: 80 }, /^Missing service name$/],
    [{ name: '', port: 80 }, /^Missing service name$/],
    [{ name: 'my_service', port: 80 }, /^Invalid service name "my_service": Konsul service names are DNS labels/],
    [{ name: 'web', port: 0 }, /^Invalid service port/],
    [{ name: 'web', port: 65536 }, /^Invalid service port/],
  ] as const) {
    const response = await register(inject, payload);
    t.equal(response.statusCode, 400, JSON.stringify(payload));
    t.match(response.body, message);
  }
});

t.test('both faces refuse the same unprintable tags, meta values and check names', async (t) => {
  const { app } = await startTestKonsul(t);
  const inject = app.inject.bind(app);
  // Written as JSON text: a lone surrogate cannot be held in a well-formed JS object literal.
  const bad: [string, string, string][] = [
    ['meta value with a lone surrogate', '"meta":{"k":"\\ud800x"}', '"Meta":{"k":"\\ud800x"}'],
    ['tag with U+0085 (NEL)', '"tags":["a\\u0085b"]', '"Tags":["a\\u0085b"]'],
    ['tag with a lone low surrogate', '"tags":["\\udc00"]', '"Tags":["\\udc00"]'],
    ['meta key that is not a token', '"meta":{"a b":"1"}', '"Meta":{"a b":"1"}'],
    [
      'check name with a C1 control',
      '"checks":[{"type":"ttl","ttl":"5s","name":"a\\u009bb"}]',
      '"Check":{"TTL":"5s","Name":"a\\u009bb"}',
    ],
    ['an empty address', '"address":"", "port":80', '"Address":"", "Port":80'],
  ];
  for (const [what, native, consul] of bad) {
    const nativeBody = native.includes('"address"')
      ? `{"name":"web",${native}}`
      : `{"name":"web","address":"10.0.0.1","port":80,${native}}`;
    const nativeResponse = await inject({
      method: 'PUT',
      url: '/catalog/register',
      headers: { 'content-type': 'application/json' },
      payload: nativeBody,
    });
    t.equal(nativeResponse.statusCode, 400, `native: ${what}`);
    if (what === 'an empty address') {
      // Consul's empty Address means "the agent's address", so /v1 takes the client's.
      continue;
    }
    const consulResponse = await register(inject, `{"Name":"web","Address":"10.0.0.1","Port":80,${consul}}`);
    t.equal(consulResponse.statusCode, 400, `/v1: ${what}`);
    t.match(consulResponse.body, /^Request decode failed: /, `/v1: ${what}`);
  }
  t.same(json(await inject({ method: 'GET', url: '/v1/agent/services' })), {}, 'nothing was registered');
  const emoji = await register(inject, { Name: 'web', Address: '10.0.0.1', Port: 80, Tags: ['🚀'], Meta: { k: '🚀' } });
  t.equal(emoji.statusCode, 200, 'a surrogate pair is one character and passes on both');
});
