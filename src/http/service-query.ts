import { isIP } from 'node:net';
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { Catalog } from '../catalog/catalog.js';
import { compareById, type Exclusion, type Instance } from '../catalog/types.js';
import { Errors } from '../errors.js';
import type { StrategyManager } from '../lb/manager.js';
import { isBlocking, waitIfBlocking, type BlockingSettings } from './blocking.js';
import type { InstanceListJson } from './instance-json.js';
import type { JoinedAnswers } from './joined-answers.js';
import { sharedSerializer } from './lazy-schemas.js';
import { ExplainedAnswerSchema, type ServiceQuery } from './schemas.js';

export interface ServiceQueryDeps {
  catalog: Catalog;
  lb: StrategyManager;
  blocking: BlockingSettings;
  /** Long answer bodies kept for reuse, one bound for every route (http.answerCacheBytes). */
  answers: JoinedAnswers;
}

/** What a service query answered, and the catalog index it was answered at. */
export interface ServiceAnswer {
  index: number;
  instances: Instance[];
  /** The strategy that ordered the answer. */
  strategy: string;
  panic: boolean;
  /**
   * Only for `explain=true`: every instance of the service that is not in `instances` for a
   * reason (tag, meta, critical, warning), sorted by id. Instances cut off by `limit` are not listed.
   */
  excluded?: Exclusion[];
}

/** The body of an `explain=true` query on the native routes. */
export interface ExplainedAnswer {
  instances: Instance[];
  excluded: Exclusion[];
  strategy: string;
  panic: boolean;
  index: number;
}

/**
 * The one implementation behind every service query route: filter in the catalog, wait if the
 * query blocks, then let the strategy manager filter by health and order the answer. Sets
 * Konsul's X-Konsul-* headers; a face with headers of its own reads the index from the answer.
 * A query that does not block is answered synchronously (no promise), as most are.
 */
export function answerServiceQuery(
  deps: ServiceQueryDeps,
  request: FastifyRequest,
  reply: FastifyReply,
  name: string | undefined,
  query: ServiceQuery,
): ServiceAnswer | Promise<ServiceAnswer> {
  const meta = parseMetaFilter(query.meta);
  const clientIp = query['client-ip'] ?? request.ip;
  if (query['client-ip'] !== undefined && isIP(query['client-ip']) === 0)
    throw Errors.invalidClientIp(query['client-ip']);
  // Validate the load-balancing options before holding a blocking query, so a bad one fails fast.
  const policy = name === undefined ? undefined : deps.catalog.serviceConfig(name)?.config;
  deps.lb.check(query.lb ?? policy?.lb, query.limit ?? policy?.limit, query['session-key']);
  if (!isBlocking(query)) return orderedAnswer(deps, reply, name, query, meta, clientIp);
  return waitIfBlocking(request, deps.catalog, name, query, deps.blocking).then(() =>
    orderedAnswer(deps, reply, name, query, meta, clientIp),
  );
}

/**
 * answerServiceQuery for the native routes, whose body is the ordered instances alone, sent as
 * JSON joined from each instance's cached JSON (`json`, one per route plugin). With
 * `explain=true` it sends the instances with what was left out and why, serialized by that
 * body's own schema.
 */
export function answerServiceInstances(
  deps: ServiceQueryDeps,
  json: InstanceListJson,
  request: FastifyRequest,
  reply: FastifyReply,
  name: string | undefined,
  query: ServiceQuery,
): undefined | Promise<undefined> {
  const answer = answerServiceQuery(deps, request, reply, name, query);
  const send =
    query.explain === true
      ? (body: ServiceAnswer): undefined => {
          void reply.serializer(serializeExplained).send(explained(body));
          return undefined;
        }
      : (body: ServiceAnswer): undefined => {
          void json.send(reply, body.instances);
          return undefined;
        };
  return answer instanceof Promise ? answer.then(send) : send(answer);
}

const EXPLAINED_ANSWER = { ...ExplainedAnswerSchema };
const serializeExplained = sharedSerializer(EXPLAINED_ANSWER);

const explained = (answer: ServiceAnswer): ExplainedAnswer => ({
  instances: answer.instances,
  excluded: answer.excluded ?? [],
  strategy: answer.strategy,
  panic: answer.panic,
  index: answer.index,
});

function orderedAnswer(
  deps: ServiceQueryDeps,
  reply: FastifyReply,
  name: string | undefined,
  query: ServiceQuery,
  meta: Record<string, string> | undefined,
  clientIp: string,
): ServiceAnswer {
  // Explain: the catalog's filter and the manager's health filter each record what they leave out.
  const excluded: Exclusion[] | undefined = query.explain === true ? [] : undefined;
  const result = deps.catalog.query({ name, tags: query.tag, meta }, excluded);
  // The service's config stands in for parameters the query leaves out (read after any wait).
  const policy = name === undefined ? undefined : deps.catalog.serviceConfig(name)?.config;
  const ordered = deps.lb.order(
    // Members: hash tables are built over the whole service and shared by every filter of it.
    { key: result.key, service: result.service, instances: result.instances, members: result.members },
    {
      strategy: query.lb ?? policy?.lb,
      limit: query.limit ?? policy?.limit,
      clientIp,
      sessionKey: query['session-key'],
      clientRegion: query['client-region'],
      healthFilter: query['health-filter'] ?? true,
      passingOnly: query.passing ?? policy?.passing ?? false,
      panicThreshold: policy?.panicThreshold,
      split: policy?.split,
      slowStart: policy?.slowStart,
      excluded,
    },
  );
  void reply.header('x-konsul-index', String(result.index)).header('x-konsul-strategy', ordered.strategy);
  if (ordered.panic) void reply.header('x-konsul-panic', 'true');
  if (ordered.side !== undefined) void reply.header('x-konsul-split', ordered.side);
  const answer: ServiceAnswer = {
    index: result.index,
    instances: ordered.instances,
    strategy: ordered.strategy,
    panic: ordered.panic,
  };
  if (excluded !== undefined) answer.excluded = excluded.sort(compareById);
  return answer;
}

function parseMetaFilter(pairs: readonly string[] | undefined): Record<string, string> | undefined {
  if (pairs === undefined || pairs.length === 0) return undefined;
  const meta: Record<string, string> = Object.create(null) as Record<string, string>;
  for (const pair of pairs) {
    const split = pair.indexOf(':');
    const key = pair.slice(0, split);
    const value = pair.slice(split + 1);
    if (key in meta && meta[key] !== value)
      throw Errors.validationFailed(`querystring.meta: key "${key}" is given twice with different values`);
    meta[key] = value;
  }
  return meta;
}
