import { readFileSync } from 'node:fs';
import { resolve, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Value } from 'typebox/value';
import { ConfigSchema, type Config } from './schema.js';
import { parseDuration } from '../duration.js';
import { replacedWholeKeys, strategyConfigProblems } from '../lb/strategy-configs.js';
import { parseNetwork } from '../dns/allow-from.js';

export type { Config } from './schema.js';

/** Start-up stops on this with one line naming the key and the problem. */
export class ConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ConfigError';
  }
}

const PROJECT_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
export const DEFAULT_CONFIG_FILE = resolve(PROJECT_ROOT, 'konsul.config.json');
/** The most checks one instance may carry over etcd (see validate()). */
const MAX_CHECKS_PER_INSTANCE_ON_ETCD = 63;

type Env = Readonly<Record<string, string | undefined>>;
type EnvKind = 'string' | 'port' | 'list';

/** KONSUL_* variables and the config key each one overrides. */
export const ENV_OVERRIDES: readonly [variable: string, path: readonly string[], kind: EnvKind][] = [
  ['KONSUL_HOST', ['http', 'host'], 'string'],
  ['KONSUL_PORT', ['http', 'port'], 'port'],
  ['KONSUL_DNS_HOST', ['dns', 'host'], 'string'],
  ['KONSUL_DNS_PORT', ['dns', 'port'], 'port'],
  ['KONSUL_DNS_DOMAIN', ['dns', 'domain'], 'string'],
  ['KONSUL_DATA_DIR', ['storage', 'dataDir'], 'string'],
  ['KONSUL_LOG_LEVEL', ['log', 'level'], 'string'],
  ['KONSUL_TOKEN', ['auth', 'token'], 'string'],
  ['KONSUL_STORE', ['store', 'type'], 'string'],
  ['KONSUL_NODE_NAME', ['store', 'nodeName'], 'string'],
  ['KONSUL_ETCD_ENDPOINTS', ['store', 'etcd', 'endpoints'], 'list'],
  ['KONSUL_ETCD_PREFIX', ['store', 'etcd', 'prefix'], 'string'],
];

export interface LoadConfigOptions {
  env?: Env;
  /** Explicit file; otherwise KONSUL_CONFIG, otherwise the bundled konsul.config.json. */
  file?: string;
  /** Deep-merged over the file before the environment (tests use this). */
  overrides?: DeepPartial<Config>;
}

export type DeepPartial<T> = {
  [K in keyof T]?: T[K] extends object ? (T[K] extends unknown[] ? T[K] : DeepPartial<T[K]>) : T[K];
};

/**
 * Reads the defaults file, lays a user file (KONSUL_CONFIG) and the environment over it, and
 * validates the result. A user file only needs the keys it changes.
 */
export function loadConfig(options: LoadConfigOptions = {}): Config {
  const env = options.env ?? process.env;
  let merged = readJson(DEFAULT_CONFIG_FILE);
  const userFile = options.file ?? env.KONSUL_CONFIG;
  if (userFile !== undefined && userFile !== '' && resolve(userFile) !== DEFAULT_CONFIG_FILE) {
    merged = deepMerge(merged, readJson(resolve(userFile)));
  }
  if (options.overrides !== undefined) merged = deepMerge(merged, options.overrides);
  for (const [variable, path, kind] of ENV_OVERRIDES) {
    const raw = env[variable];
    if (raw === undefined || raw === '') continue;
    setPath(
      merged,
      path,
      kind === 'port'
        ? parsePort(variable, raw)
        : kind === 'list'
          ? raw
              .split(',')
              .map((item) => item.trim())
              .filter((item) => item !== '')
          : raw,
    );
  }
  return validate(merged);
}

function validate(candidate: Record<string, unknown>): Config {
  if (!Value.Check(ConfigSchema, candidate)) {
    const first =
      [...Value.Errors(ConfigSchema, candidate)].find((e) => e.keyword !== 'boolean') ??
      [...Value.Errors(ConfigSchema, candidate)][0];
    const key = first.instancePath.slice(1).replaceAll('/', '.') || '(root)';
    const extra =
      first.keyword === 'additionalProperties'
        ? `: unknown key(s) ${JSON.stringify((first.params as { additionalProperties?: unknown }).additionalProperties)}`
        : '';
    throw new ConfigError(`invalid config: ${key} ${first.message}${extra}`);
  }
  const config = candidate;
  for (const [key, value] of [
    ['http.headersTimeout', config.http.headersTimeout],
    ['http.requestTimeout', config.http.requestTimeout],
    ['http.keepAliveTimeout', config.http.keepAliveTimeout],
    ['http.idleTimeout', config.http.idleTimeout],
    ['blocking.defaultWait', config.blocking.defaultWait],
    ['blocking.maxWait', config.blocking.maxWait],
    ['health.defaultInterval', config.health.defaultInterval],
    ['health.defaultTimeout', config.health.defaultTimeout],
    ['health.defaultTtl', config.health.defaultTtl],
    ['store.etcd.requestTimeout', config.store.etcd.requestTimeout],
    ['store.etcd.probeInterval', config.store.etcd.probeInterval],
    ['store.etcd.memberTtl', config.store.etcd.memberTtl],
    ['store.etcd.loadFlushInterval', config.store.etcd.loadFlushInterval],
    ['dns.tcp.idleTimeout', config.dns.tcp.idleTimeout],
    ['dns.tcp.messageTimeout', config.dns.tcp.messageTimeout],
    ['health.minInterval', config.health.minInterval],
    ['health.minTimeout', config.health.minTimeout],
    ['storage.retryInterval', config.storage.retryInterval],
    ['catalog.serviceTombstoneTtl', config.catalog.serviceTombstoneTtl],
  ] as const) {
    const ms = parseDuration(value);
    if (ms === undefined || ms <= 0)
      throw new ConfigError(`invalid config: ${key} must be a positive duration such as 10s, got "${value}"`);
  }
  // Node refuses a server whose header deadline lies past its whole-request deadline.
  if (parseDuration(config.http.headersTimeout)! > parseDuration(config.http.requestTimeout)!) {
    throw new ConfigError('invalid config: http.headersTimeout must not exceed http.requestTimeout');
  }
  if (parseDuration(config.blocking.defaultWait)! > parseDuration(config.blocking.maxWait)!) {
    throw new ConfigError('invalid config: blocking.defaultWait must not exceed blocking.maxWait');
  }
  config.dns.clientRegions.forEach(({ cidr }, index) => {
    const network = parseNetwork(cidr);
    if (typeof network === 'string')
      throw new ConfigError(`invalid config: dns.clientRegions[${index}].cidr ${network}`);
  });
  config.dns.allowFrom.forEach((text, index) => {
    const network = parseNetwork(text);
    if (typeof network === 'string') throw new ConfigError(`invalid config: dns.allowFrom[${index}] ${network}`);
  });
  // A linger is a wait added to a write: 0 turns it off, and more than a second is no batching.
  const linger = parseDuration(config.store.etcd.commitLinger);
  if (linger === undefined || linger > 1000)
    throw new ConfigError(
      `invalid config: store.etcd.commitLinger must be a duration from 0ms to 1s, got "${config.store.etcd.commitLinger}"`,
    );
  if (parseDuration(config.health.minTimeout)! > parseDuration(config.health.minInterval)!) {
    throw new ConfigError('invalid config: health.minTimeout must not exceed health.minInterval');
  }
  if (parseDuration(config.health.defaultInterval)! < parseDuration(config.health.minInterval)!) {
    throw new ConfigError('invalid config: health.defaultInterval must not be below health.minInterval');
  }
  // One registration is one etcd transaction: a put (and a compare) per check id it takes and a
  // delete per one it gives up, and etcd refuses a transaction of more than --max-txn-ops (128)
  // operations. 63 checks replaced by 63 others is 127.
  if (config.store.type === 'etcd' && config.health.maxChecksPerInstance > MAX_CHECKS_PER_INSTANCE_ON_ETCD) {
    throw new ConfigError(
      `invalid config: health.maxChecksPerInstance must be at most ${MAX_CHECKS_PER_INSTANCE_ON_ETCD} with store.type etcd (etcd's --max-txn-ops is 128), got ${config.health.maxChecksPerInstance}`,
    );
  }
  if (!config.lb.enabled.includes(config.lb.default)) {
    throw new ConfigError(`invalid config: lb.default "${config.lb.default}" is not in lb.enabled`);
  }
  const strategyProblem = strategyConfigProblems(config.lb).at(0);
  if (strategyProblem !== undefined) throw new ConfigError(`invalid config: ${strategyProblem}`);
  return config;
}

function readJson(file: string): Record<string, unknown> {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (error) {
    throw new ConfigError(`cannot read config file ${file}: ${(error as NodeJS.ErrnoException).code ?? String(error)}`);
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (error) {
    throw new ConfigError(`config file ${file} is not valid JSON: ${(error as Error).message}`);
  }
  if (!isPlainObject(parsed)) throw new ConfigError(`config file ${file} must hold a JSON object`);
  return parsed;
}

function parsePort(variable: string, raw: string): number {
  if (!/^\d{1,5}$/.test(raw) || Number(raw) > 65535) {
    throw new ConfigError(`invalid config: ${variable} must be a port number from 0 to 65535, got "${raw}"`);
  }
  return Number(raw);
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function deepMerge(base: Record<string, unknown>, over: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = { ...base };
  for (const [key, value] of Object.entries(over)) {
    if (key === '__proto__' || key === 'constructor' || key === 'prototype') continue;
    const current = out[key];
    out[key] =
      isPlainObject(current) && isPlainObject(value) && !replacedWholeKeys.has(key) ? deepMerge(current, value) : value;
  }
  return out;
}

function setPath(target: Record<string, unknown>, path: readonly string[], value: unknown): void {
  let node = target;
  for (const key of path.slice(0, -1)) {
    if (!isPlainObject(node[key])) node[key] = {};
    node = node[key] as Record<string, unknown>;
  }
  node[path[path.length - 1]] = value;
}
