/**
 * Turns one guarded query into the bytes of its answer. Synchronous from start to finish:
 * nothing is awaited, so no query is ever left pending and nothing can reject unhandled
 * (dns2 3.0.0 leaves a rejected async handler unhandled, which ends a Node 20 process).
 */
import type { ServiceConfig } from '../catalog/types.js';
import type { Config } from '../config/schema.js';
import type { StrategyManager } from '../lb/manager.js';
import type { OrderOptions } from '../lb/types.js';
import { answerKind, KIND, type AnswerCache, type AnswerSet } from './answer-cache.js';
import { encodeOpt, type Edns } from './edns.js';
import type { Query } from './guard.js';
import { ClientRegions } from './client-regions.js';
import type { NameRouter } from './names.js';
import { addressRecord, QUESTION_NAME } from './records.js';
import { layOut, ResponseSections } from './truncate.js';
import { FLAG_AA, FLAG_QR, FLAG_RD, QCLASS, QTYPE, RCODE } from './wire.js';
import type { Zone } from './zone.js';

export interface Answer {
  message: Buffer;
  /** The full RCODE, including extended ones (BADVERS). */
  rcode: number;
  truncated: boolean;
}

export interface ResponderParts {
  config: Config['dns'];
  lb: StrategyManager;
  router: NameRouter;
  answers: AnswerCache;
  zone: Zone;
}

export class Responder {
  private readonly config: Config['dns'];
  private readonly lb: StrategyManager;
  private readonly router: NameRouter;
  private readonly answers: AnswerCache;
  private readonly zone: Zone;
  /** Reused for every query: the manager reads its options during order() and keeps nothing. */
  private readonly orderOptions: OrderOptions;
  private readonly sections = new ResponseSections();
  private readonly seenAdditionals = new Set<Buffer>();
  /**
   * The one Answer every call returns, refilled each time: callers read it before asking again
   * (answering is synchronous), so a query allocates nothing here but its response buffer.
   */
  private readonly reply: Answer = { message: Buffer.alloc(0), rcode: 0, truncated: false };
  /** RFC 7871 scope of the answer being built. */
  private scopePrefix = 0;
  /** Whether dns.lb orders by the client's address, so an ECS answer is scoped to its subnet. */
  private readonly keyedByClient: boolean;
  private readonly regions: ClientRegions;
  /** The health and panic settings of dns.lb answers, restored after a service's config changed them. */
  private readonly defaultPassing: boolean;

  constructor(parts: ResponderParts) {
    this.config = parts.config;
    this.lb = parts.lb;
    this.router = parts.router;
    this.answers = parts.answers;
    this.zone = parts.zone;
    this.keyedByClient = parts.lb.get(parts.config.lb)?.keyedByClient === true;
    this.defaultPassing = parts.config.onlyPassing;
    this.regions = new ClientRegions(parts.config.clientRegions);
    this.orderOptions = {
      strategy: parts.config.lb,
      limit: 0,
      clientIp: undefined,
      sessionKey: undefined,
      passingOnly: parts.config.onlyPassing,
    };
  }

  /**
   * The answer to `query` (whose bytes are `message`) from a client at `source`, laid out
   * within `limit` bytes; valid until the next call. Throws only on a bug or a misconfigured
   * strategy; the caller answers SERVFAIL then.
   */
  answer(message: Buffer, query: Query, source: string, limit: number): Answer {
    const sections = this.sections;
    sections.clear();
    this.scopePrefix = 0;
    let rcode: number;
    let authoritative: boolean;
    const edns = query.edns;
    if (query.qclass !== QCLASS.IN && query.qclass !== QCLASS.ANY) {
      // Konsul only serves the Internet class; CHAOS (version.bind) and others are not implemented.
      rcode = RCODE.NOTIMP;
      authoritative = false;
    } else if (edns !== null && edns.version > 0) {
      // RFC 6891 §6.1.3: a version we do not speak gets BADVERS and our version (0) in the OPT.
      rcode = RCODE.BADVERS;
      authoritative = false;
    } else if (
      query.qtype === QTYPE.AXFR ||
      query.qtype === QTYPE.IXFR ||
      query.qtype === QTYPE.MAILA ||
      query.qtype === QTYPE.MAILB
    ) {
      // Zone transfers and the obsolete mail meta-types are not served: the catalog is the source of truth.
      rcode = RCODE.NOTIMP;
      authoritative = false;
    } else {
      rcode = this.resolve(message, query, source);
      // RFC 1035 §4.1.1: AA only for names in our zone. Refused names are not ours.
      authoritative = rcode !== RCODE.REFUSED;
    }
    if (rcode === RCODE.NXDOMAIN || (rcode === RCODE.NOERROR && sections.answers.length === 0)) {
      // RFC 2308 §3: negative answers (NXDOMAIN and NODATA) carry the zone's SOA for caching.
      sections.authority.push(this.zone.soaForAuthority());
    }
    const flags = FLAG_QR | (authoritative ? FLAG_AA : 0) | (query.flags & FLAG_RD) | (rcode & 0x0f);
    const opt = edns === null ? null : encodeOpt(edns, rcode, this.scopePrefix);
    const reply = this.reply;
    layOut(message, query.questionEnd, query.id, flags, sections, opt, limit, reply);
    reply.rcode = rcode;
    return reply;
  }

  /** An empty answer with `rcode` (SERVFAIL when answering failed), the question and OPT echoed; valid until the next call. */
  failure(message: Buffer, query: Query, rcode: number, limit: number): Answer {
    this.sections.clear();
    const flags = FLAG_QR | (query.flags & FLAG_RD) | (rcode & 0x0f);
    const opt = query.edns === null ? null : encodeOpt(query.edns, rcode, 0);
    const reply = this.reply;
    layOut(message, query.questionEnd, query.id, flags, this.sections, opt, limit, reply);
    reply.rcode = rcode;
    reply.truncated = false;
    return reply;
  }

  /** Fills the sections for a query of the IN class; returns the RCODE. */
  private resolve(message: Buffer, query: Query, source: string): number {
    const route = this.router.route(message, query.nameEnd);
    const qtype = query.qtype;
    const answers = this.sections.answers;
    switch (route.kind) {
      case 'outside':
        // Konsul is authoritative for its zone only and never recurses (no open resolver).
        return RCODE.REFUSED;
      case 'nxdomain':
        return RCODE.NXDOMAIN;
      case 'empty':
        return RCODE.NOERROR;
      case 'apex':
        if (qtype === QTYPE.SOA || qtype === QTYPE.ANY) answers.push(this.zone.soaForAnswer());
        if (qtype === QTYPE.NS || qtype === QTYPE.ANY) {
          answers.push(this.zone.nsAnswer);
          if (this.zone.nsGlue !== undefined) this.sections.additional.push(this.zone.nsGlue);
        }
        return RCODE.NOERROR;
      case 'ns': {
        const glue = this.zone.nsAddressAnswer;
        if (glue !== undefined && matchesFamily(qtype, this.zone.nsFamilyLength)) answers.push(glue);
        return RCODE.NOERROR;
      }
      case 'addr':
        if (matchesFamily(qtype, route.octets.length))
          answers.push(addressRecord(QUESTION_NAME, this.config.ttl, route.octets));
        return RCODE.NOERROR;
      case 'service': {
        const service = this.answers.lookup(route.service, route.tag, route.cacheKey);
        if (service === undefined) return RCODE.NXDOMAIN;
        const kind = answerKind(qtype);
        // The name exists but holds no records of this type: NODATA (RFC 2308 §2.2).
        if (kind === undefined) return RCODE.NOERROR;
        const set = service.set(kind);
        if (set.candidates.instances.length > 0) this.fillService(set, kind, query.edns, source, service.config);
        return RCODE.NOERROR;
      }
    }
  }

  private fillService(
    set: AnswerSet,
    kind: number,
    edns: Edns | null,
    source: string,
    policy: ServiceConfig | undefined,
  ): void {
    const subnet = edns?.clientSubnet;
    // RFC 7871 §7.1.2: the subnet stands for the client; the resolver's own address is only a fallback.
    const clientKey = subnet?.address ?? source;
    const options = this.orderOptions;
    options.clientIp = clientKey;
    options.sessionKey = clientKey;
    // The service's config sets what dns.* would; a strategy disabled since it was stored falls
    // back to dns.lb rather than failing every answer of the service.
    const strategy = policy?.lb !== undefined && this.lb.usable(policy.lb) ? policy.lb : this.config.lb;
    options.strategy = strategy;
    options.passingOnly = policy?.passing ?? this.defaultPassing;
    options.panicThreshold = policy?.panicThreshold;
    options.split = policy?.split;
    options.slowStart = policy?.slowStart;
    // dns.clientRegions: the client's region, for latency-based (nearest first).
    const region = this.regions.regionOf(clientKey);
    options.clientRegion = region;
    const maxAnswers = atMost(this.config.maxAnswers, policy?.limit);
    const capped = kind === KIND.A || kind === KIND.AAAA || kind === KIND.ANY;
    // With aliases in the list the cap applies after the CNAME rule below, so the manager returns everything.
    options.limit =
      kind === KIND.CNAME
        ? 1
        : capped && set.aliases.size === 0
          ? maxAnswers
          : kind === KIND.SRV
            ? (policy?.limit ?? 0)
            : 0;
    const ordered = this.lb.order(set.candidates, options).instances;
    options.clientIp = undefined;
    options.sessionKey = undefined;
    const keyedByClient = strategy === this.config.lb ? this.keyedByClient : this.lb.get(strategy)?.keyedByClient;
    // A split picks its side by the client's address too (RFC 7871 §7.2.1: scope to the subnet).
    const byRegion = region !== undefined && strategy === 'latency-based';
    if (subnet !== undefined && (keyedByClient === true || byRegion || policy?.split !== undefined))
      this.scopePrefix = subnet.sourcePrefix;

    const records = set.records;
    const answers = this.sections.answers;
    if (set.additionals !== undefined) {
      const additionals = set.additionals;
      const seen = this.seenAdditionals;
      seen.clear();
      for (const instance of ordered) {
        answers.push(records.get(instance.id)!);
        const extra = additionals.get(instance.id);
        if (extra !== undefined && !seen.has(extra)) {
          seen.add(extra);
          this.sections.additional.push(extra);
        }
      }
      return;
    }
    if (set.aliases.size === 0) {
      for (const instance of ordered) answers.push(records.get(instance.id)!);
      return;
    }
    // RFC 1034 §3.6.2: a CNAME excludes other data at the name, so addresses win and otherwise
    // the single best-ordered hostname is the answer.
    const cap = maxAnswers === 0 ? Number.MAX_SAFE_INTEGER : maxAnswers;
    let firstAlias: Buffer | undefined;
    for (const instance of ordered) {
      if (set.aliases.has(instance.id)) {
        firstAlias ??= records.get(instance.id);
      } else if (answers.length < cap) {
        answers.push(records.get(instance.id)!);
      }
    }
    if (answers.length === 0 && firstAlias !== undefined) answers.push(firstAlias);
  }
}

/** The smaller of two answer caps, where 0 or undefined means no cap. */
function atMost(cap: number, limit: number | undefined): number {
  if (limit === undefined || limit === 0) return cap;
  return cap === 0 ? limit : Math.min(cap, limit);
}

function matchesFamily(qtype: number, octets: number): boolean {
  return qtype === QTYPE.ANY || (qtype === QTYPE.A && octets === 4) || (qtype === QTYPE.AAAA && octets === 16);
}
