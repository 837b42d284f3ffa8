import { Type, type Static } from 'typebox';
import { strategyConfigSchemas } from '../lb/strategy-configs.js';
import { DURATION_PATTERN } from '../duration.js';

const Duration = Type.String({ pattern: DURATION_PATTERN });
// Port 0 asks the OS for a free port: tests and side-by-side runs rely on it.
const Port = Type.Integer({ minimum: 0, maximum: 65535 });
const Host = Type.String({ minLength: 1, maxLength: 255 });
const DnsLabel = Type.String({
  pattern: '^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?(\\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*$',
  maxLength: 200,
});
const StrategyName = Type.String({ pattern: '^[a-z0-9-]{1,64}$' });

export const ConfigSchema = Type.Object(
  {
    http: Type.Object(
      {
        host: Host,
        port: Port,
        bodyLimit: Type.Integer({ minimum: 1024, maximum: 64 * 1024 * 1024 }),
        trustProxy: Type.Boolean(),
        maxConnections: Type.Integer({ minimum: 1, maximum: 10_000_000 }),
        fdReserve: Type.Integer({ minimum: 0, maximum: 10_000_000 }),
        headersTimeout: Duration,
        requestTimeout: Duration,
        keepAliveTimeout: Duration,
        idleTimeout: Duration,
        compileSchemas: Type.Union([Type.Literal('startup'), Type.Literal('first-use')]),
        answerCacheBytes: Type.Integer({ minimum: 0, maximum: 1024 * 1024 * 1024 }),
      },
      { additionalProperties: false },
    ),
    dns: Type.Object(
      {
        enabled: Type.Boolean(),
        host: Host,
        port: Port,
        domain: DnsLabel,
        ttl: Type.Integer({ minimum: 0, maximum: 86400 }),
        lb: StrategyName,
        onlyPassing: Type.Boolean(),
        maxAnswers: Type.Integer({ minimum: 0, maximum: 1000 }),
        maxConcurrent: Type.Integer({ minimum: 1, maximum: 1_000_000 }),
        udpAnswerLimit: Type.Integer({ minimum: 512, maximum: 4096 }),
        allowFrom: Type.Array(Type.String({ minLength: 1, maxLength: 64 }), { maxItems: 1024 }),
        clientRegions: Type.Array(
          Type.Object(
            {
              cidr: Type.String({ minLength: 1, maxLength: 64 }),
              region: Type.String({ minLength: 1, maxLength: 128, pattern: '^[A-Za-z0-9_.-]+$' }),
            },
            { additionalProperties: false },
          ),
          { maxItems: 4096 },
        ),
        tcp: Type.Object(
          {
            idleTimeout: Duration,
            messageTimeout: Duration,
            maxConnectionsPerSource: Type.Integer({ minimum: 1, maximum: 1_000_000 }),
            connectionOutputBytes: Type.Integer({ minimum: 512, maximum: 64 * 1024 * 1024 }),
            outputBytes: Type.Integer({ minimum: 65_536, maximum: 1024 * 1024 * 1024 }),
            inputBytes: Type.Integer({ minimum: 65_536, maximum: 1024 * 1024 * 1024 }),
          },
          { additionalProperties: false },
        ),
      },
      { additionalProperties: false },
    ),
    storage: Type.Object(
      {
        dataDir: Type.String({ minLength: 1 }),
        file: Type.String({ minLength: 1, pattern: '^[^/\\\\]+$' }),
        synchronous: Type.Union([Type.Literal('full'), Type.Literal('normal')]),
        retryInterval: Duration,
      },
      { additionalProperties: false },
    ),
    catalog: Type.Object(
      {
        serviceTombstoneTtl: Duration,
      },
      { additionalProperties: false },
    ),
    store: Type.Object(
      {
        type: Type.Union([Type.Literal('sqlite'), Type.Literal('etcd')]),
        nodeName: Type.String({ pattern: '^([A-Za-z0-9][A-Za-z0-9._-]{0,62})?$' }),
        etcd: Type.Object(
          {
            endpoints: Type.Array(Type.String({ pattern: '^https?://[^\\s,/]+/?$', maxLength: 255 }), {
              minItems: 1,
              maxItems: 32,
            }),
            prefix: Type.String({ pattern: '^/[A-Za-z0-9._/-]{0,200}/$' }),
            requestTimeout: Duration,
            probeInterval: Duration,
            memberTtl: Duration,
            loadFlushInterval: Duration,
            loadMaxPending: Type.Integer({ minimum: 1, maximum: 1_000_000 }),
            commitLinger: Duration,
          },
          { additionalProperties: false },
        ),
      },
      { additionalProperties: false },
    ),
    log: Type.Object(
      {
        level: Type.Union([
          Type.Literal('fatal'),
          Type.Literal('error'),
          Type.Literal('warn'),
          Type.Literal('info'),
          Type.Literal('debug'),
          Type.Literal('trace'),
          Type.Literal('silent'),
        ]),
      },
      { additionalProperties: false },
    ),
    auth: Type.Object(
      {
        token: Type.String({ maxLength: 4096 }),
        protectReads: Type.Boolean(),
      },
      { additionalProperties: false },
    ),
    blocking: Type.Object(
      {
        defaultWait: Duration,
        maxWait: Duration,
        maxWaiters: Type.Integer({ minimum: 1, maximum: 10_000_000 }),
      },
      { additionalProperties: false },
    ),
    lb: Type.Object(
      {
        default: StrategyName,
        enabled: Type.Array(StrategyName, { minItems: 1, uniqueItems: true }),
        // ringHash, maglev, latency: each strategy owns its block (src/lb/strategy-configs.ts).
        ...strategyConfigSchemas,
        latencyEwmaAlpha: Type.Number({ exclusiveMinimum: 0, maximum: 1 }),
        panicThreshold: Type.Number({ minimum: 0, maximum: 100 }),
        cacheSize: Type.Integer({ minimum: 1, maximum: 1_000_000 }),
        cacheBytes: Type.Integer({ minimum: 65_536, maximum: 17_179_869_184 }),
        buildSliceWork: Type.Integer({ minimum: 256, maximum: 100_000_000 }),
        outlierDetection: Type.Object(
          {
            consecutiveFailures: Type.Integer({ minimum: 0, maximum: 1_000_000 }),
            interval: Duration,
            baseEjectionTime: Duration,
            maxEjectionTime: Duration,
            maxEjectionPercent: Type.Number({ minimum: 0, maximum: 100 }),
            successRateMinimumHosts: Type.Integer({ minimum: 1, maximum: 1_000_000 }),
            successRateRequestVolume: Type.Integer({ minimum: 1, maximum: 1_000_000_000 }),
            successRateStdevFactor: Type.Number({ minimum: 0, maximum: 100 }),
          },
          { additionalProperties: false },
        ),
        buildSliceTime: Duration,
        slowStart: Type.Object(
          {
            window: Duration,
            aggression: Type.Number({ minimum: 0.1, maximum: 10 }),
            minWeightPercent: Type.Number({ minimum: 0, maximum: 100 }),
          },
          { additionalProperties: false },
        ),
      },
      { additionalProperties: false },
    ),
    health: Type.Object(
      {
        enabled: Type.Boolean(),
        maxConcurrent: Type.Integer({ minimum: 1, maximum: 100_000 }),
        defaultInterval: Duration,
        defaultTimeout: Duration,
        defaultTtl: Duration,
        minInterval: Duration,
        minTimeout: Duration,
        maxChecksPerInstance: Type.Integer({ minimum: 1, maximum: 1024 }),
        outputBytes: Type.Integer({ minimum: 0, maximum: 1_048_576 }),
        outputSyncInterval: Duration,
      },
      { additionalProperties: false },
    ),
    limits: Type.Object(
      {
        writesPerSecond: Type.Number({ minimum: 0 }),
        writeBurst: Type.Integer({ minimum: 0 }),
      },
      { additionalProperties: false },
    ),
    ui: Type.Object(
      {
        enabled: Type.Boolean(),
        historySize: Type.Integer({ minimum: 0, maximum: 100_000 }),
      },
      { additionalProperties: false },
    ),
  },
  { additionalProperties: false },
);

export type Config = Static<typeof ConfigSchema>;
