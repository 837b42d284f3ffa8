import { isIP } from 'node:net';
import { Errors } from '../errors.js';
import { parseDuration } from '../duration.js';
import type { Check, CheckDefinition, CheckInput, HealthStatus, Instance, Registration } from './types.js';

/** Defaults a registration's checks take when they leave a field out, and how many it may have. */
export interface CheckDefaults {
  interval: string;
  timeout: string;
  /** Checks one instance may carry (health.maxChecksPerInstance); unlimited when absent. */
  maxPerInstance?: number;
}

/** A registration with its defaults filled in and its cross-field rules checked. */
export type NormalizedRegistration = Omit<
  Instance,
  'status' | 'checks' | 'createIndex' | 'modifyIndex' | 'maintenance'
> & {
  checks: { definition: CheckDefinition; status?: HealthStatus }[];
};

/** Longest instance or check id: what the routes that address them by path accept. */
export const ID_MAX_LENGTH = 256;

const HOSTNAME = /^(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*\.?$/;
const HOST_PORT = /^(\[[0-9a-fA-F:.]+\]|[^\s:/[\]]+):(\d{1,5})$/;

/**
 * Fills in what a registration leaves out (id, check ids, weight) and checks the rules a JSON
 * Schema cannot express. Shared by every face so an instance is the same however it arrived.
 */
export function normalizeRegistration(registration: Registration, defaults: CheckDefaults): NormalizedRegistration {
  const name = registration.name.toLowerCase();
  const address = normalizeAddress(registration.address);
  const id = registration.id ?? `${name}-${address}-${registration.port}`;
  if (id.length > ID_MAX_LENGTH) {
    throw Errors.validationFailed(
      `id: the id derived from name, address and port is longer than ${ID_MAX_LENGTH} characters; send an id`,
    );
  }
  const inputs = registration.checks ?? [];
  // Every check is a probe Konsul makes on the registrant's behalf, to an address of its choosing:
  // without a cap, one registration could make the server open connections at any rate.
  if (defaults.maxPerInstance !== undefined && inputs.length > defaults.maxPerInstance) {
    throw Errors.tooManyChecks(inputs.length, defaults.maxPerInstance);
  }
  const checks = inputs.map((input, position) =>
    normalizeCheck(
      input,
      inputs.length === 1 ? `service:${id}` : `service:${id}:${position + 1}`,
      `checks[${position}]`,
      defaults,
    ),
  );
  const seen = new Set<string>();
  for (const { definition } of checks) {
    if (definition.id.length > ID_MAX_LENGTH) {
      throw Errors.validationFailed(
        `checks: the check id "service:${id.slice(0, 32)}…" derived from the instance id is longer than ${ID_MAX_LENGTH} characters; give the check an id`,
      );
    }
    if (seen.has(definition.id)) throw Errors.duplicateCheckId(definition.id);
    seen.add(definition.id);
  }
  return {
    id,
    name,
    address,
    port: registration.port,
    tags: [...(registration.tags ?? [])],
    meta: Object.fromEntries(Object.entries(registration.meta ?? {})),
    weight: registration.weight ?? 1,
    region: registration.region ?? null,
    zone: registration.zone ?? null,
    checks,
  };
}

function normalizeAddress(address: string): string {
  if (isIP(address) !== 0) return address.toLowerCase();
  const hostname = address.toLowerCase().replace(/\.$/, '');
  // An all-numeric last label would read as a malformed IPv4 address (RFC 1123 §2.1).
  if (HOSTNAME.test(hostname) && !/(^|\.)\d+$/.test(hostname)) return hostname;
  throw Errors.validationFailed(`address: "${address}" is not an IPv4 address, an IPv6 address or a hostname`);
}

function normalizeCheck(
  input: CheckInput,
  defaultId: string,
  field: string,
  defaults: CheckDefaults,
): { definition: CheckDefinition; status?: HealthStatus } {
  const definition: CheckDefinition = {
    id: input.id ?? defaultId,
    name: input.name ?? `${input.type} check`,
    type: input.type,
    successBeforePassing: input.successBeforePassing ?? 0,
    failuresBeforeCritical: input.failuresBeforeCritical ?? 0,
  };
  const durations = ['interval', 'timeout', 'ttl', 'deregisterCriticalAfter'] as const;
  for (const key of durations) {
    const value = input[key];
    if (value === undefined) continue;
    const ms = parseDuration(value);
    if (ms === undefined) throw Errors.invalidDuration(`${field}.${key}`, value);
    if (ms <= 0) throw Errors.invalidCheck(`${field}.${key}`, `must be longer than zero, got "${value}"`);
  }
  switch (input.type) {
    case 'http': {
      if (input.http === undefined)
        throw Errors.invalidCheck(`${field}.http`, 'an http check needs the URL to request');
      let url: URL;
      try {
        url = new URL(input.http);
      } catch {
        throw Errors.invalidCheck(`${field}.http`, `"${input.http}" is not a URL`);
      }
      if (url.protocol !== 'http:' && url.protocol !== 'https:') {
        throw Errors.invalidCheck(`${field}.http`, `the URL must be http: or https:, got ${url.protocol}`);
      }
      definition.http = input.http;
      definition.method = (input.method ?? 'GET').toUpperCase();
      if (input.headers !== undefined) definition.headers = { ...input.headers };
      break;
    }
    case 'tcp': {
      if (input.tcp === undefined)
        throw Errors.invalidCheck(`${field}.tcp`, 'a tcp check needs host:port to connect to');
      const match = HOST_PORT.exec(input.tcp);
      if (match === null || Number(match[2]) < 1 || Number(match[2]) > 65535) {
        throw Errors.invalidCheck(`${field}.tcp`, `"${input.tcp}" is not host:port (use [addr]:port for IPv6)`);
      }
      definition.tcp = input.tcp;
      break;
    }
    case 'ttl':
      if (input.ttl === undefined) throw Errors.invalidCheck(`${field}.ttl`, 'a ttl check needs ttl, such as 30s');
      definition.ttl = input.ttl;
      break;
  }
  if (
    input.type !== 'http' &&
    (input.http !== undefined || input.method !== undefined || input.headers !== undefined)
  ) {
    throw Errors.invalidCheck(`${field}.http`, `http, method and headers belong to http checks, not ${input.type}`);
  }
  if (input.type !== 'tcp' && input.tcp !== undefined)
    throw Errors.invalidCheck(`${field}.tcp`, `tcp belongs to tcp checks, not ${input.type}`);
  if (input.type !== 'ttl' && input.ttl !== undefined)
    throw Errors.invalidCheck(`${field}.ttl`, `ttl belongs to ttl checks, not ${input.type}`);
  if (input.type === 'ttl' && (input.interval !== undefined || input.timeout !== undefined)) {
    throw Errors.invalidCheck(
      `${field}.interval`,
      'a ttl check has no interval or timeout: its clients report within ttl',
    );
  }
  if (input.type !== 'ttl') {
    definition.interval = input.interval ?? defaults.interval;
    const interval = parseDuration(definition.interval)!;
    // A timeout longer than the interval would let runs of the same check overlap.
    const timeout =
      input.timeout ?? (parseDuration(defaults.timeout)! < interval ? defaults.timeout : definition.interval);
    if (parseDuration(timeout)! > interval) {
      throw Errors.invalidCheck(
        `${field}.timeout`,
        `must not be longer than the interval (${definition.interval}), got "${timeout}"`,
      );
    }
    definition.timeout = timeout;
  }
  if (input.deregisterCriticalAfter !== undefined) definition.deregisterCriticalAfter = input.deregisterCriticalAfter;
  return input.status === undefined ? { definition } : { definition, status: input.status };
}

/**
 * The instance a registration becomes. A check that already exists keeps its status and note
 * unless the registration sets one (as Consul does), so re-registering does not flap health.
 */
export function buildInstance(
  registration: NormalizedRegistration,
  previous: Instance | undefined,
  index: number,
  now: number,
  worst: (checks: readonly Check[]) => HealthStatus,
): Instance {
  const previousChecks = new Map((previous?.checks ?? []).map((check) => [check.id, check]));
  const checks = registration.checks.map(({ definition, status }): Check => {
    const existing = previousChecks.get(definition.id);
    if (status !== undefined) {
      const unchanged = existing !== undefined && existing.status === status;
      return {
        ...definition,
        instanceId: registration.id,
        status,
        note: unchanged ? existing.note : '',
        statusChangedAt: unchanged ? existing.statusChangedAt : now,
      };
    }
    if (existing !== undefined)
      return {
        ...definition,
        instanceId: registration.id,
        status: existing.status,
        note: existing.note,
        statusChangedAt: existing.statusChangedAt,
      };
    return { ...definition, instanceId: registration.id, status: 'critical', note: '', statusChangedAt: now };
  });
  return {
    id: registration.id,
    name: registration.name,
    address: registration.address,
    port: registration.port,
    tags: registration.tags,
    meta: registration.meta,
    weight: registration.weight,
    region: registration.region,
    zone: registration.zone,
    // Maintenance is the operator's, not the registrant's: a deploy that registers again stays out.
    ...(previous?.maintenance === undefined ? {} : { maintenance: previous.maintenance }),
    status: worst(checks),
    checks,
    createIndex: previous?.createIndex ?? index,
    modifyIndex: index,
  };
}
