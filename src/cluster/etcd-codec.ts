import {
  worstStatus,
  type Check,
  type Instance,
  type Maintenance,
  type ServiceConfig,
  type ServiceConfigEntry,
} from '../catalog/types.js';

/**
 * How an instance sits in etcd: one key per instance (`<prefix>instances/<id>`) holding the
 * instance and its checks with their statuses, and one key per check id (`<prefix>checks/<checkId>`)
 * naming the instance that holds it, so a transaction can refuse a check id another instance took.
 * Indexes are not stored: an instance's createIndex and modifyIndex are its key's create and
 * modify revisions, which is what makes "index = etcd revision" hold for every reader.
 * A service's operator config sits at `<prefix>instances-config/<name>`, which sorts just before
 * "instances/" ('-' < '/') and after every other prefix (heartbeats/ stays off the watch), so one
 * watch over [instances-config/, end of instances/) sees configs and instances in revision order.
 */
export const CODEC_VERSION = 1;

interface StoredInstance {
  v: number;
  id: string;
  name: string;
  address: string;
  port: number;
  tags: string[];
  meta: Record<string, string>;
  weight: number;
  region: string | null;
  zone: string | null;
  /** Absent when the instance is not in maintenance (and in values written before it existed). */
  maintenance?: Maintenance;
  checks: Check[];
}

export function encodeInstance(instance: Instance): Buffer {
  const stored: StoredInstance = {
    v: CODEC_VERSION,
    id: instance.id,
    name: instance.name,
    address: instance.address,
    port: instance.port,
    tags: instance.tags,
    meta: instance.meta,
    weight: instance.weight,
    region: instance.region,
    zone: instance.zone,
    ...(instance.maintenance === undefined ? {} : { maintenance: instance.maintenance }),
    checks: instance.checks,
  };
  return Buffer.from(JSON.stringify(stored));
}

/** The instance a key holds; throws on a value Konsul did not write (the caller logs and skips it). */
export function decodeInstance(value: Buffer, createRevision: number, modRevision: number): Instance {
  const stored = JSON.parse(value.toString('utf8')) as StoredInstance;
  if (stored.v !== CODEC_VERSION || typeof stored.id !== 'string' || !Array.isArray(stored.checks)) {
    throw new Error(`not a Konsul instance of codec version ${CODEC_VERSION}`);
  }
  return {
    id: stored.id,
    name: stored.name,
    address: stored.address,
    port: stored.port,
    tags: stored.tags,
    meta: stored.meta,
    weight: stored.weight,
    region: stored.region,
    zone: stored.zone,
    ...(stored.maintenance === undefined ? {} : { maintenance: stored.maintenance }),
    status: worstStatus(stored.checks),
    checks: stored.checks,
    createIndex: createRevision,
    modifyIndex: modRevision,
  };
}

interface StoredConfig {
  v: number;
  name: string;
  config: ServiceConfig;
}

export function encodeConfig(name: string, config: ServiceConfig): Buffer {
  const stored: StoredConfig = { v: CODEC_VERSION, name, config };
  return Buffer.from(JSON.stringify(stored));
}

/** The config a key holds; throws on a value Konsul did not write. */
export function decodeConfig(value: Buffer, modRevision: number): ServiceConfigEntry {
  const stored = JSON.parse(value.toString('utf8')) as StoredConfig;
  if (stored.v !== CODEC_VERSION || typeof stored.name !== 'string' || typeof stored.config !== 'object')
    throw new Error(`not a Konsul service config of codec version ${CODEC_VERSION}`);
  return { name: stored.name, config: stored.config, modifyIndex: modRevision };
}

/** The keys under one prefix; every Konsul node of a cluster uses the same prefix. */
export class EtcdKeys {
  readonly instances: string;
  readonly checks: string;
  readonly members: string;
  readonly configs: string;
  /** `<prefix>heartbeats/<checkId>`: a TTL check's last heartbeat time (epoch ms), off the catalog's watch. */
  readonly heartbeats: string;

  constructor(readonly prefix: string) {
    this.configs = `${prefix}instances-config/`;
    this.instances = `${prefix}instances/`;
    this.checks = `${prefix}checks/`;
    this.members = `${prefix}members/`;
    this.heartbeats = `${prefix}heartbeats/`;
  }

  instance(id: string): Buffer {
    return Buffer.from(this.instances + id);
  }

  check(checkId: string): Buffer {
    return Buffer.from(this.checks + checkId);
  }

  config(name: string): Buffer {
    return Buffer.from(this.configs + name);
  }

  member(name: string): Buffer {
    return Buffer.from(this.members + name);
  }

  heartbeat(checkId: string): Buffer {
    return Buffer.from(this.heartbeats + checkId);
  }
}

/** The end of the range of every key starting with `prefix` (etcd's clientv3.GetPrefixRangeEnd). */
export function prefixEnd(prefix: string): Buffer {
  const end = Buffer.from(prefix);
  for (let i = end.length - 1; i >= 0; i--) {
    if (end[i] < 0xff) {
      end[i]++;
      return end.subarray(0, i + 1);
    }
  }
  return Buffer.from([0]);
}
