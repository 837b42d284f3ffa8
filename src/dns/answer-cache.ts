/**
 * Encoded answer records per (service, tag) and answer kind, rebuilt only when the service's
 * catalog index (its membership version) moves, the way Envoy builds a ring once per host set.
 * The hot path then only asks the strategy manager for an order and copies byte slices.
 *
 * Records are keyed by instance id, never by instance object: the catalog may replace an
 * instance object without a new index (a check's note changed), but nothing DNS encodes
 * (address, port, weight, health) can change without one.
 */
import type { Catalog } from '../catalog/catalog.js';
import type { Instance, ServiceConfig } from '../catalog/types.js';
import type { Candidates } from '../lb/types.js';
import { addressLabel, addressOctets } from './address.js';
import { addressRecord, cnameRecord, encodeRecord, QUESTION_NAME, srvRecord } from './records.js';
import { encodeName, QTYPE } from './wire.js';

/** Answer kinds with their own candidate list and records. */
export const KIND = { A: 0, AAAA: 1, ANY: 2, SRV: 3, CNAME: 4 } as const;
export type AnswerKind = (typeof KIND)[keyof typeof KIND];
const KIND_NAMES = ['a', 'aaaa', 'any', 'srv', 'cname'] as const;
const KIND_COUNT = KIND_NAMES.length;

/** The answer kind of a qtype, or undefined when a service name holds no records of that type. */
export function answerKind(qtype: number): AnswerKind | undefined {
  switch (qtype) {
    case QTYPE.A:
      return KIND.A;
    case QTYPE.AAAA:
      return KIND.AAAA;
    case QTYPE.ANY:
      return KIND.ANY;
    case QTYPE.SRV:
      return KIND.SRV;
    case QTYPE.CNAME:
      return KIND.CNAME;
    default:
      return undefined;
  }
}

/** One kind's candidate list (what the strategy manager orders) and its encoded records. */
export interface AnswerSet {
  readonly candidates: Candidates;
  /** Instance id → the answer record: A/AAAA, SRV, or a CNAME for hostname instances. */
  readonly records: ReadonlyMap<string, Buffer>;
  /**
   * Ids whose record is a CNAME. RFC 1034 §3.6.2: a name with a CNAME holds no other data, so
   * address answers carry the address records when there are any and otherwise the single
   * best-ordered CNAME. Empty for SRV (a hostname is simply the target there).
   */
  readonly aliases: ReadonlySet<string>;
  /** SRV only: instance id → the A/AAAA record of its target, for the additional section. */
  readonly additionals: ReadonlyMap<string, Buffer> | undefined;
}

/** A service (optionally narrowed to a tag) at one catalog index. */
export class ServiceAnswers {
  private readonly sets: (AnswerSet | undefined)[] = new Array<AnswerSet | undefined>(KIND_COUNT).fill(undefined);

  constructor(
    readonly service: string,
    readonly tag: string | undefined,
    readonly index: number,
    /** Instances of the service carrying the tag, whatever their health; never empty. */
    readonly instances: readonly Instance[],
    /** Every instance of the service: the membership its ring or Maglev table is built over. */
    readonly members: readonly Instance[],
    private readonly builder: RecordBuilder,
    /** The service's operator config at this index (a config change moves the index). */
    readonly config: ServiceConfig | undefined = undefined,
  ) {}

  set(kind: AnswerKind): AnswerSet {
    let set = this.sets[kind];
    if (set === undefined) {
      set = this.builder.build(this, kind);
      this.sets[kind] = set;
    }
    return set;
  }
}

interface RecordBuilder {
  build(answers: ServiceAnswers, kind: AnswerKind): AnswerSet;
}

export interface AnswerCacheOptions {
  domain: string;
  ttl: number;
  /** (service, tag) pairs kept; the oldest is dropped beyond it. */
  capacity?: number;
}

export class AnswerCache implements RecordBuilder {
  private readonly entries = new Map<string, ServiceAnswers>();
  private readonly domain: string;
  private readonly ttl: number;
  private readonly capacity: number;

  constructor(
    private readonly catalog: Catalog,
    options: AnswerCacheOptions,
  ) {
    this.domain = options.domain.toLowerCase();
    this.ttl = options.ttl;
    this.capacity = options.capacity ?? 4096;
  }

  get size(): number {
    return this.entries.size;
  }

  /**
   * The service's answers, or undefined when the name does not exist: no such service, no
   * instance left, or none carrying the tag. `cacheKey` identifies (service, tag).
   */
  lookup(service: string, tag: string | undefined, cacheKey: string): ServiceAnswers | undefined {
    const view = this.catalog.service(service);
    const cached = this.entries.get(cacheKey);
    if (view === undefined || view.instances.length === 0) {
      if (cached !== undefined) this.entries.delete(cacheKey);
      return undefined;
    }
    if (cached !== undefined && cached.index === view.index) return cached;
    // DNS names are case-insensitive (RFC 4343) and the query name arrives folded, so tags match without case.
    const instances = tag === undefined ? view.instances : view.instances.filter((instance) => hasTag(instance, tag));
    if (instances.length === 0) {
      // Not cached: a flood of made-up tags must not push real entries out.
      if (cached !== undefined) this.entries.delete(cacheKey);
      return undefined;
    }
    const config = this.catalog.serviceConfig(view.name)?.config;
    const answers = new ServiceAnswers(view.name, tag, view.index, instances, view.instances, this, config);
    if (cached !== undefined) this.entries.delete(cacheKey);
    else if (this.entries.size >= this.capacity) this.entries.delete(this.entries.keys().next().value!);
    this.entries.set(cacheKey, answers);
    return answers;
  }

  build(answers: ServiceAnswers, kind: AnswerKind): AnswerSet {
    const ttl = this.ttl;
    const records = new Map<string, Buffer>();
    const aliases = new Set<string>();
    const eligible: Instance[] = [];
    let additionals: Map<string, Buffer> | undefined;
    if (kind === KIND.SRV) {
      additionals = new Map();
      // Instances sharing an address share one target record, so the additional section can skip repeats by identity.
      const targetRecords = new Map<string, Buffer>();
      for (const instance of answers.instances) {
        const octets = addressOctets(instance.address);
        const target = octets === undefined ? instance.address : `${addressLabel(octets)}.addr.${this.domain}`;
        records.set(instance.id, srvRecord(QUESTION_NAME, ttl, 1, instance.weight, instance.port, target));
        if (octets !== undefined) {
          let record = targetRecords.get(target);
          if (record === undefined) {
            record = addressRecord(encodeName(target), ttl, octets);
            targetRecords.set(target, record);
          }
          additionals.set(instance.id, record);
        }
        eligible.push(instance);
      }
    } else {
      for (const instance of answers.instances) {
        const octets = addressOctets(instance.address);
        if (octets === undefined) {
          records.set(instance.id, cnameRecord(QUESTION_NAME, ttl, instance.address));
          aliases.add(instance.id);
        } else if (
          kind === KIND.CNAME ||
          (kind === KIND.A && octets.length !== 4) ||
          (kind === KIND.AAAA && octets.length !== 16)
        ) {
          continue;
        } else {
          records.set(
            instance.id,
            encodeRecord(QUESTION_NAME, octets.length === 4 ? QTYPE.A : QTYPE.AAAA, ttl, octets),
          );
        }
        eligible.push(instance);
      }
    }
    const tagPart = answers.tag ?? '';
    const candidates: Candidates = {
      // Same key ⇒ same instances: the index pins membership, tag and kind pin the selection.
      key: `${answers.service}@${answers.index}|dns:${tagPart}:${KIND_NAMES[kind]}`,
      service: answers.service,
      instances: eligible,
      // One table per service, shared with HTTP and every tag and record type: records of
      // another type or tag are skipped while walking, as unhealthy instances are.
      members: answers.members,
    };
    return { candidates, records, aliases, additionals };
  }
}

function hasTag(instance: Instance, tag: string): boolean {
  for (const candidate of instance.tags) if (candidate.toLowerCase() === tag) return true;
  return false;
}
