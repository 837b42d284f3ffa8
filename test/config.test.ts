import t from 'tap';
import { join } from 'node:path';
import { writeFileSync } from 'node:fs';
import { ConfigError, loadConfig } from '../src/config/load.js';
import { tempDir } from './helpers/catalog.js';

t.test('the bundled file holds the documented defaults', async (t) => {
  const config = loadConfig({ env: {} });
  t.match(config, {
    http: {
      host: '127.0.0.1',
      port: 8888,
      bodyLimit: 1048576,
      maxConnections: 16384,
      fdReserve: 128,
      headersTimeout: '10s',
      requestTimeout: '30s',
      keepAliveTimeout: '15s',
      idleTimeout: '60s',
    },
    dns: { host: '127.0.0.1', port: 8600, domain: 'konsul', ttl: 0, lb: 'round-robin', enabled: true },
    storage: { dataDir: './data', file: 'konsul.db' },
    auth: { token: '', protectReads: false },
    lb: { default: 'round-robin', maglev: { tableSize: 65537 }, panicThreshold: 0 },
  });
});

t.test('KONSUL_* variables override the file', async (t) => {
  const config = loadConfig({
    env: {
      KONSUL_HOST: '0.0.0.0',
      KONSUL_PORT: '9999',
      KONSUL_DNS_HOST: '127.0.0.2',
      KONSUL_DNS_PORT: '5353',
      KONSUL_DNS_DOMAIN: 'internal',
      KONSUL_DATA_DIR: '/var/lib/konsul',
      KONSUL_LOG_LEVEL: 'debug',
      KONSUL_TOKEN: 's3cret',
    },
  });
  t.match(config, {
    http: { host: '0.0.0.0', port: 9999 },
    dns: { host: '127.0.0.2', port: 5353, domain: 'internal' },
    storage: { dataDir: '/var/lib/konsul' },
    log: { level: 'debug' },
    auth: { token: 's3cret' },
  });
});

t.test('KONSUL_CONFIG points at a file that only needs the keys it changes', async (t) => {
  const file = join(tempDir(t), 'mine.json');
  writeFileSync(file, JSON.stringify({ http: { port: 7000 }, lb: { default: 'maglev' } }));
  const config = loadConfig({ env: { KONSUL_CONFIG: file, KONSUL_PORT: '7001' } });
  t.equal(config.http.port, 7001, 'the environment wins over the file');
  t.equal(config.http.host, '127.0.0.1', 'untouched keys keep their defaults');
  t.equal(config.lb.default, 'maglev');
});

t.test('invalid config names the key and the problem', async (t) => {
  const dir = tempDir(t);
  const write = (name: string, body: string) => {
    const file = join(dir, name);
    writeFileSync(file, body);
    return file;
  };
  const cases: [Record<string, string | undefined>, RegExp][] = [
    [{ KONSUL_PORT: 'eighty' }, /KONSUL_PORT must be a port number/],
    [{ KONSUL_PORT: '70000' }, /KONSUL_PORT/],
    [{ KONSUL_LOG_LEVEL: 'loud' }, /log\.level/],
    [{ KONSUL_DNS_DOMAIN: 'Not A Domain' }, /dns\.domain/],
    [{ KONSUL_CONFIG: write('typo.json', '{"http":{"prot":1}}') }, /http.*unknown key.*prot/],
    [{ KONSUL_CONFIG: write('bad.json', '{"http":') }, /not valid JSON/],
    [
      { KONSUL_CONFIG: write('size.json', '{"lb":{"maglev":{"tableSize":65536}}}') },
      /lb\.maglev\.tableSize must be prime/,
    ],
    [
      { KONSUL_CONFIG: write('default.json', '{"lb":{"default":"maglev","enabled":["round-robin"]}}') },
      /lb\.default "maglev" is not in lb\.enabled/,
    ],
    [{ KONSUL_CONFIG: write('wait.json', '{"blocking":{"defaultWait":"20m"}}') }, /defaultWait must not exceed/],
    [{ KONSUL_CONFIG: write('dur.json', '{"health":{"defaultTtl":"forever"}}') }, /health\.defaultTtl/],
    [
      { KONSUL_CONFIG: write('floor.json', '{"health":{"minInterval":"1s","minTimeout":"2s"}}') },
      /health\.minTimeout must not exceed health\.minInterval/,
    ],
    [
      { KONSUL_CONFIG: write('below.json', '{"health":{"defaultInterval":"500ms"}}') },
      /health\.defaultInterval must not be below health\.minInterval/,
    ],
    [{ KONSUL_CONFIG: write('tomb.json', '{"catalog":{"serviceTombstoneTtl":"0s"}}') }, /catalog\.serviceTombstoneTtl/],
    [{ KONSUL_CONFIG: write('cap.json', '{"health":{"maxChecksPerInstance":0}}') }, /health\.maxChecksPerInstance/],
    [
      { KONSUL_CONFIG: write('headers.json', '{"http":{"headersTimeout":"1m","requestTimeout":"30s"}}') },
      /http\.headersTimeout must not exceed http\.requestTimeout/,
    ],
    [{ KONSUL_CONFIG: write('idle.json', '{"http":{"idleTimeout":"0s"}}') }, /http\.idleTimeout must be a positive/],
    [{ KONSUL_CONFIG: write('conns.json', '{"http":{"maxConnections":0}}') }, /http\.maxConnections/],
    [{ KONSUL_CONFIG: join(dir, 'missing.json') }, /cannot read config file .*ENOENT/],
  ];
  for (const [env, message] of cases) {
    t.match(configErrorOf(env), message, JSON.stringify(env));
  }
});

function configErrorOf(env: Record<string, string | undefined>): string {
  try {
    loadConfig({ env });
    return 'loaded without error';
  } catch (error) {
    return error instanceof ConfigError ? error.message : `not a ConfigError: ${String(error)}`;
  }
}

t.test('the store block: SQLite by default, etcd from KONSUL_STORE and a comma-separated endpoint list', async (t) => {
  const defaults = loadConfig({ env: {} });
  t.match(defaults.store, {
    type: 'sqlite',
    nodeName: '',
    etcd: { endpoints: ['http://127.0.0.1:2379'], prefix: '/konsul/', requestTimeout: '3s', probeInterval: '1s' },
  });
  const cluster = loadConfig({
    env: {
      KONSUL_STORE: 'etcd',
      KONSUL_NODE_NAME: 'k1',
      KONSUL_ETCD_ENDPOINTS: 'http://etcd-1:2379, http://etcd-2:2379,http://etcd-3:2379',
      KONSUL_ETCD_PREFIX: '/prod/konsul/',
    },
  });
  t.same(cluster.store.etcd.endpoints, ['http://etcd-1:2379', 'http://etcd-2:2379', 'http://etcd-3:2379']);
  t.match(cluster.store, { type: 'etcd', nodeName: 'k1', etcd: { prefix: '/prod/konsul/' } });
  for (const [env, message] of [
    [{ KONSUL_STORE: 'consul' }, /store\.type/],
    [{ KONSUL_ETCD_ENDPOINTS: 'etcd-1:2379' }, /store\.etcd\.endpoints/],
    [{ KONSUL_ETCD_PREFIX: 'konsul' }, /store\.etcd\.prefix/],
    [{ KONSUL_NODE_NAME: 'k 1' }, /store\.nodeName/],
  ] as const) {
    t.throws(() => loadConfig({ env }), message);
  }
  t.equal(
    (() => {
      try {
        loadConfig({ env: { KONSUL_STORE: 'etcd' }, overrides: { health: { maxChecksPerInstance: 64 } } });
        return 'loaded without error';
      } catch (error) {
        return error instanceof ConfigError ? error.message : String(error);
      }
    })(),
    "invalid config: health.maxChecksPerInstance must be at most 63 with store.type etcd (etcd's --max-txn-ops is 128), got 64",
  );
  t.equal(
    loadConfig({ env: { KONSUL_STORE: 'etcd' }, overrides: { health: { maxChecksPerInstance: 63 } } }).health
      .maxChecksPerInstance,
    63,
  );
  t.equal(
    loadConfig({ env: {}, overrides: { health: { maxChecksPerInstance: 1024 } } }).health.maxChecksPerInstance,
    1024,
    'SQLite has no such bound',
  );
  t.equal(defaults.store.etcd.commitLinger, '2ms', 'writes linger 2 ms for their group commit by default');
  t.equal(
    loadConfig({ env: {}, overrides: { store: { etcd: { commitLinger: '0ms' } } } }).store.etcd.commitLinger,
    '0ms',
  );
  t.throws(
    () => loadConfig({ env: {}, overrides: { store: { etcd: { commitLinger: '2s' } } } }),
    /store\.etcd\.commitLinger must be a duration from 0ms to 1s, got "2s"/,
  );
});

t.test('dns guard keys default to the documented bounds and are checked with one-line errors', async (t) => {
  const config = loadConfig({ env: {} });
  t.same(
    { udpAnswerLimit: config.dns.udpAnswerLimit, allowFrom: config.dns.allowFrom, tcp: config.dns.tcp },
    {
      udpAnswerLimit: 1232,
      allowFrom: [],
      tcp: {
        idleTimeout: '10s',
        messageTimeout: '2s',
        maxConnectionsPerSource: 64,
        connectionOutputBytes: 65536,
        outputBytes: 16777216,
        inputBytes: 4194304,
      },
    },
  );
  t.same(loadConfig({ env: {}, overrides: { dns: { allowFrom: ['10.0.0.0/8', '::1', 'fd00::/8'] } } }).dns.allowFrom, [
    '10.0.0.0/8',
    '::1',
    'fd00::/8',
  ]);
  const errorOf = (dns: Record<string, unknown>): string => {
    try {
      loadConfig({ env: {}, overrides: { dns } });
      return 'accepted';
    } catch (error) {
      return error instanceof ConfigError ? error.message : String(error);
    }
  };
  t.equal(
    errorOf({ allowFrom: ['10.0.0.0/8', '10.0.0.1/8'] }),
    'invalid config: dns.allowFrom[1] "10.0.0.1/8" has bits set past /8',
  );
  t.equal(
    errorOf({ allowFrom: ['10.0.0.0/33'] }),
    'invalid config: dns.allowFrom[0] "10.0.0.0/33" needs a prefix length from 0 to 32',
  );
  t.equal(
    errorOf({ allowFrom: ['intranet'] }),
    'invalid config: dns.allowFrom[0] "intranet" is not an IPv4 or IPv6 address or CIDR',
  );
  t.match(errorOf({ udpAnswerLimit: 65535 }), /^invalid config: dns\.udpAnswerLimit .*4096/);
  t.match(errorOf({ udpAnswerLimit: 100 }), /^invalid config: dns\.udpAnswerLimit .*512/);
  t.match(
    errorOf({ tcp: { messageTimeout: '0s' } }),
    /^invalid config: dns\.tcp\.messageTimeout must be a positive duration/,
  );
  t.match(errorOf({ tcp: { maxConnectionsPerSource: 0 } }), /^invalid config: dns\.tcp\.maxConnectionsPerSource/);
});

t.test('a strategy-owned map block (lb.latency) is replaced whole by a later layer, not merged', async (t) => {
  const file = join(tempDir(t), 'latency.json');
  writeFileSync(file, JSON.stringify({ lb: { latency: { eu: { eu: 1, us: 90 } } } }));
  const config = loadConfig({ env: {}, file, overrides: { lb: { latency: { us: { us: 2 } } } } });
  t.same(config.lb.latency, { us: { us: 2 } });
  t.same(loadConfig({ env: {}, file }).lb.latency, { eu: { eu: 1, us: 90 } });
});
