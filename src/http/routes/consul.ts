import { createHash } from 'node:crypto';
import type { FastifyPluginAsync, FastifyReply, FastifyRequest } from 'fastify';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';
import type { Catalog } from '../../catalog/catalog.js';
import type { HealthStatus, Instance } from '../../catalog/types.js';
import { Errors, KonsulError } from '../../errors.js';
import type { HealthManager } from '../../health/manager.js';
import type { StrategyManager } from '../../lb/manager.js';
import { VERSION } from '../../version.js';
import { DEFAULT_MAINTENANCE_REASON } from '../../catalog/maintenance.js';
import { waitIfBlocking, type BlockingSettings } from '../blocking.js';
import { InstanceListJson } from '../instance-json.js';
import type { JoinedAnswers } from '../joined-answers.js';
import { answerServiceQuery } from '../service-query.js';
import { ConsulHttpError, consulErrorHandler } from '../consul/errors.js';
import { setQueryMeta } from '../consul/headers.js';
import { matchFieldNamesAsConsul } from '../consul/field-names.js';
import { answerOtherMethods, LEGACY_GET, refuseBrowserGet } from '../consul/methods.js';
import { consulNode, type ConsulNode } from '../consul/node.js';
import { checkQueryOptions, excludesKonsulNode, parseBool, wantsLoadBalancing } from '../consul/query-options.js';
import {
  AgentSelfSchema,
  AgentServiceSchema,
  CatalogServiceSchema,
  ConsulAgentServiceQuery,
  ConsulCheckIdParams,
  ConsulCheckQuery,
  ConsulCheckUpdateBody,
  ConsulMaintenanceQuery,
  BOOL_PATTERN,
  ConsulReadQuery,
  ConsulRegistrationBody,
  ConsulServiceIdParams,
  ConsulServiceNameParams,
  ConsulServiceQuery,
  ConsulStateParams,
  ConsulWriteQuery,
  HealthCheckSchema,
  type ConsulAgentSelf,
  type ConsulAgentService,
  ServiceEntrySchema,
} from '../consul/schemas.js';
import {
  agentService,
  catalogService,
  instanceChecks,
  nodeHealthCheck,
  registrationFromConsul,
  serviceEntry,
} from '../consul/translate.js';

export interface ConsulRoutesOptions {
  catalog: Catalog;
  lb: StrategyManager;
  health: HealthManager;
  blocking: BlockingSettings;
  /** Long answer bodies kept for reuse, shared with the other routes (http.answerCacheBytes). */
  answers: JoinedAnswers;
}

/** Consul keeps this much of a check's output (OutputMaxSize's default) and notes the rest. */
const OUTPUT_MAX = 4096;
const CHECK_STATES = new Set(['any', 'passing', 'warning', 'critical']);

/**
 * A compatible subset of Consul's HTTP API under /v1, so Consul clients work unchanged: a second
 * face over the same catalog, health manager and strategy manager as Konsul's own routes.
 * Mounts itself under /v1 (register it without a prefix) so that it can answer unknown /v1
 * paths and failures in Consul's plain-text form without touching the rest of the app.
 */
export const consulRoutes: FastifyPluginAsync<ConsulRoutesOptions> = async (app, options) => {
  await app.register(consulV1, { ...options, prefix: '/v1' });
};

const consulV1: FastifyPluginAsync<ConsulRoutesOptions> = async (plugin, deps) => {
  const app = plugin.withTypeProvider<TypeBoxTypeProvider>();
  const { catalog, health, blocking } = deps;
  const node = consulNode(catalog.location);
  // Each instance's health entry serialized once per instance record (the node is fixed).
  const serviceEntryJson = new InstanceListJson(ServiceEntrySchema, deps.answers, (instance) =>
    serviceEntry(instance, node),
  );

  app.setErrorHandler(consulErrorHandler);
  app.setNotFoundHandler((request, reply) => {
    const path = request.url.split('?', 1)[0];
    void reply
      .status(404)
      .type('text/plain; charset=utf-8')
      .send(
        `Konsul does not serve ${path}: it implements a subset of Consul's HTTP API (see docs/consul-compatibility.md)`,
      );
  });
  // Consul reads every body as JSON whatever its Content-Type, and the curl lines in its docs
  // send form-encoded or no type at all: parse them all as JSON, with Fastify's safe parser.
  app.removeAllContentTypeParsers();
  const parseJson = app.getDefaultJsonParser('error', 'error');
  app.addContentTypeParser('*', { parseAs: 'string' }, (request, body, done) => {
    if ((body as string).trim() === '') done(null, undefined);
    else void parseJson(request, body as string, done);
  });

  // ---- agent: services ---------------------------------------------------------------------

  app.put(
    '/agent/service/register',
    {
      preValidation: matchFieldNamesAsConsul(ConsulRegistrationBody),
      schema: { querystring: ConsulWriteQuery, body: ConsulRegistrationBody },
    },
    async (request, reply) => {
      checkQueryOptions(request.query, node);
      await catalog.register(registrationFromConsul(request.body, request.ip));
      return reply.send();
    },
  );
  answerOtherMethods(app, '/agent/service/register', ['PUT']);

  app.route({
    method: ['PUT', ...LEGACY_GET],
    url: '/agent/service/deregister/:id',
    exposeHeadRoute: false,
    onRequest: refuseBrowserGet,
    config: { write: true },
    schema: { querystring: ConsulWriteQuery, params: ConsulServiceIdParams },
    handler: async (request, reply) => {
      checkQueryOptions(request.query, node);
      await catalog
        .deregister(request.params.id)
        .catch(rethrow(Errors.instanceNotFound.code, () => ConsulHttpError.unknownService(request.params.id)));
      return reply.send();
    },
  });
  answerOtherMethods(app, '/agent/service/deregister/:id', ['PUT'], LEGACY_GET);

  app.get(
    '/agent/services',
    {
      exposeHeadRoute: false,
      schema: { querystring: ConsulReadQuery, response: { 200: Type.Record(Type.String(), AgentServiceSchema) } },
    },
    async (request) => {
      checkQueryOptions(request.query, node);
      const services: Record<string, ConsulAgentService> = {};
      for (const instance of sortedInstances(catalog)) services[instance.id] = agentService(instance, node);
      return services;
    },
  );
  answerOtherMethods(app, '/agent/services', ['GET']);

  app.get(
    '/agent/service/:id',
    {
      exposeHeadRoute: false,
      schema: {
        querystring: ConsulAgentServiceQuery,
        params: ConsulServiceIdParams,
        response: { 200: AgentServiceSchema },
      },
    },
    async (request, reply) => {
      checkQueryOptions(request.query, node);
      const { id } = request.params;
      let answer = agentServiceWithHash(catalog.instance(id), id, node);
      // Consul's hash-based blocking: hold while the service still hashes to what the client has.
      if (request.query.hash !== undefined && request.query.hash === answer.ContentHash) {
        const name = answer.Service;
        await waitIfBlocking(
          request,
          catalog,
          name,
          {
            index: catalog.serviceIndex(name),
            ...(request.query.wait === undefined ? {} : { wait: request.query.wait }),
          },
          blocking,
        );
        answer = agentServiceWithHash(catalog.instance(id), id, node);
      }
      void reply.header('X-Consul-ContentHash', answer.ContentHash);
      return answer;
    },
  );
  answerOtherMethods(app, '/agent/service/:id', ['GET']);

  app.put(
    '/agent/service/maintenance/:id',
    { schema: { querystring: ConsulMaintenanceQuery, params: ConsulServiceIdParams } },
    async (request, reply) => {
      checkQueryOptions(request.query, node);
      // Consul's wording (agent_endpoint.go AgentServiceMaintenance).
      const raw = request.query.enable;
      if (raw === undefined || raw === '') throw ConsulHttpError.badRequest('Missing value for enable');
      if (!new RegExp(BOOL_PATTERN).test(raw)) throw ConsulHttpError.badRequest(`Invalid value for enable: "${raw}"`);
      const reason = request.query.reason;
      await catalog
        .setMaintenance(
          request.params.id,
          parseBool(raw) ? (reason === undefined || reason === '' ? DEFAULT_MAINTENANCE_REASON : reason) : null,
        )
        .catch(rethrow(Errors.instanceNotFound.code, () => ConsulHttpError.unknownService(request.params.id)));
      return reply.send();
    },
  );
  answerOtherMethods(app, '/agent/service/maintenance/:id', ['PUT']);

  // ---- agent: TTL checks -------------------------------------------------------------------

  const updateTtl = async (checkId: string, status: HealthStatus, output: string | undefined): Promise<void> => {
    try {
      await health.updateTtl(checkId, status, truncateOutput(output ?? ''));
    } catch (error) {
      if (error instanceof KonsulError && error.code === Errors.checkNotFound.code)
        throw ConsulHttpError.unknownCheck(checkId);
      if (error instanceof KonsulError && error.code === Errors.notTtlCheck.code)
        throw ConsulHttpError.notTtlCheck(checkId);
      throw error;
    }
  };
  const statusOf = { pass: 'passing', warn: 'warning', fail: 'critical' } as const;
  for (const verb of ['pass', 'warn', 'fail'] as const) {
    app.route({
      method: ['PUT', ...LEGACY_GET],
      url: `/agent/check/${verb}/:check_id`,
      exposeHeadRoute: false,
      onRequest: refuseBrowserGet,
      config: { write: true },
      schema: { querystring: ConsulCheckQuery, params: ConsulCheckIdParams },
      handler: async (request, reply) => {
        checkQueryOptions(request.query, node);
        await updateTtl(request.params.check_id, statusOf[verb], request.query.note);
        return reply.send();
      },
    });
    answerOtherMethods(app, `/agent/check/${verb}/:check_id`, ['PUT'], LEGACY_GET);
  }

  app.put(
    '/agent/check/update/:check_id',
    {
      preValidation: matchFieldNamesAsConsul(ConsulCheckUpdateBody),
      schema: { querystring: ConsulWriteQuery, params: ConsulCheckIdParams, body: ConsulCheckUpdateBody },
    },
    async (request, reply) => {
      checkQueryOptions(request.query, node);
      await updateTtl(request.params.check_id, request.body.Status, request.body.Output);
      return reply.send();
    },
  );
  answerOtherMethods(app, '/agent/check/update/:check_id', ['PUT']);

  // ---- agent and status: identity ----------------------------------------------------------

  app.get(
    '/agent/self',
    { exposeHeadRoute: false, schema: { querystring: ConsulReadQuery, response: { 200: AgentSelfSchema } } },
    async (request) => {
      checkQueryOptions(request.query, node);
      return agentSelf(node, catalog);
    },
  );
  answerOtherMethods(app, '/agent/self', ['GET']);

  // In cluster mode the raft peers are etcd's members and the leader is etcd's, as this node last
  // saw them; Consul answers "" when there is no leader, and so does a node cut off from etcd.
  const clusterAnswers: Record<string, () => string> = {
    '/status/leader': () => {
      const cluster = catalog.cluster()!;
      return JSON.stringify(catalog.contact().knownLeader ? (cluster.etcdLeader ?? '') : '');
    },
    '/status/peers': () => JSON.stringify(catalog.cluster()!.etcdMembers),
  };
  for (const [url, answer] of [
    ['/status/leader', JSON.stringify(node.leader)],
    ['/status/peers', JSON.stringify([node.leader])],
    ['/catalog/datacenters', JSON.stringify([node.datacenter])],
  ] as const) {
    // On one node the answers never change, so they are serialized once.
    const live = catalog.replicated ? clusterAnswers[url] : undefined;
    app.get(url, { exposeHeadRoute: false, schema: { querystring: ConsulReadQuery } }, async (request, reply) => {
      checkQueryOptions(request.query, node);
      return reply.type('application/json; charset=utf-8').send(live === undefined ? answer : live());
    });
    answerOtherMethods(app, url, ['GET']);
  }

  // ---- catalog -----------------------------------------------------------------------------

  app.get(
    '/catalog/services',
    {
      exposeHeadRoute: false,
      schema: {
        querystring: ConsulReadQuery,
        response: { 200: Type.Record(Type.String(), Type.Array(Type.String())) },
      },
    },
    async (request, reply) => {
      checkQueryOptions(request.query, node);
      await waitIfBlocking(request, catalog, undefined, request.query, blocking);
      setQueryMeta(reply, catalog.serviceIndex(undefined), catalog.contact());
      const services: Record<string, string[]> = {};
      if (excludesKonsulNode(request.query)) return services;
      for (const { name } of catalog.summaries()) {
        const tags = new Set<string>();
        for (const instance of catalog.service(name)?.instances ?? []) for (const tag of instance.tags) tags.add(tag);
        services[name] = [...tags].sort();
      }
      return services;
    },
  );
  answerOtherMethods(app, '/catalog/services', ['GET']);

  app.get(
    '/catalog/service/:service',
    {
      exposeHeadRoute: false,
      schema: {
        querystring: ConsulServiceQuery,
        params: ConsulServiceNameParams,
        response: { 200: Type.Array(CatalogServiceSchema) },
      },
    },
    async (request, reply) =>
      (await serviceInstances(deps, node, request, reply, request.params.service, request.query)).map((instance) =>
        catalogService(instance, node),
      ),
  );
  answerOtherMethods(app, '/catalog/service/:service', ['GET']);

  // ---- health ------------------------------------------------------------------------------

  app.get(
    '/health/service/:service',
    {
      exposeHeadRoute: false,
      schema: {
        querystring: ConsulServiceQuery,
        params: ConsulServiceNameParams,
        response: { 200: Type.Array(ServiceEntrySchema) },
      },
    },
    async (request, reply) =>
      serviceEntryJson.send(
        reply,
        await serviceInstances(deps, node, request, reply, request.params.service, request.query),
      ),
  );
  answerOtherMethods(app, '/health/service/:service', ['GET']);

  app.get(
    '/health/checks/:service',
    {
      exposeHeadRoute: false,
      schema: {
        querystring: ConsulReadQuery,
        params: ConsulServiceNameParams,
        response: { 200: Type.Array(HealthCheckSchema) },
      },
    },
    async (request, reply) => {
      checkQueryOptions(request.query, node);
      const name = request.params.service;
      await waitIfBlocking(request, catalog, name, request.query, blocking);
      const result = catalog.query({ name });
      setQueryMeta(reply, result.index, catalog.contact());
      if (excludesKonsulNode(request.query)) return [];
      return result.instances.flatMap((instance) => instanceChecks(instance, node));
    },
  );
  answerOtherMethods(app, '/health/checks/:service', ['GET']);

  app.get(
    '/health/state/:state',
    {
      exposeHeadRoute: false,
      schema: {
        querystring: ConsulReadQuery,
        params: ConsulStateParams,
        response: { 200: Type.Array(HealthCheckSchema) },
      },
    },
    async (request, reply) => {
      const { state } = request.params;
      if (!CHECK_STATES.has(state))
        throw ConsulHttpError.badRequest(`Invalid check state "${state}": use any, passing, warning or critical`);
      checkQueryOptions(request.query, node);
      await waitIfBlocking(request, catalog, undefined, request.query, blocking);
      setQueryMeta(reply, catalog.serviceIndex(undefined), catalog.contact());
      if (excludesKonsulNode(request.query)) return [];
      const checks = sortedInstances(catalog).flatMap((instance) => instanceChecks(instance, node));
      checks.push(nodeHealthCheck(node));
      return state === 'any' ? checks : checks.filter((check) => check.Status === state);
    },
  );
  answerOtherMethods(app, '/health/state/:state', ['GET']);
};

/**
 * The instances a catalog/service or health/service read answers with, after blocking. Without
 * a Konsul load-balancing parameter the answer keeps Consul's order (by service ID) and every
 * instance, so the same index always gives the same body, as watchers rely on. With one, the
 * strategy manager orders it, through the same code as Konsul's own service queries.
 */
async function serviceInstances(
  deps: ConsulRoutesOptions,
  node: ConsulNode,
  request: FastifyRequest,
  reply: FastifyReply,
  name: string,
  query: ConsulServiceQuery,
): Promise<Instance[]> {
  checkQueryOptions(query, node);
  const passing = parseBool(query.passing);
  let instances: Instance[];
  let index: number;
  if (wantsLoadBalancing(query)) {
    ({ instances, index } = await answerServiceQuery(deps, request, reply, name, {
      ...(query.tag === undefined ? {} : { tag: query.tag }),
      ...(query.lb === undefined ? {} : { lb: query.lb }),
      ...(query.limit === undefined ? {} : { limit: query.limit }),
      ...(query['client-ip'] === undefined ? {} : { 'client-ip': query['client-ip'] }),
      ...(query['session-key'] === undefined ? {} : { 'session-key': query['session-key'] }),
      ...(query['client-region'] === undefined ? {} : { 'client-region': query['client-region'] }),
      ...(query.index === undefined ? {} : { index: query.index }),
      ...(query.wait === undefined ? {} : { wait: query.wait }),
      // Consul's health/service lists critical instances unless ?passing: so does this face.
      'health-filter': false,
      passing,
    }));
  } else {
    await waitIfBlocking(request, deps.catalog, name, query, deps.blocking);
    const result = deps.catalog.query({ name, ...(query.tag === undefined ? {} : { tags: query.tag }) });
    // An instance in maintenance carries a critical check (see instanceChecks), so ?passing drops it.
    instances = passing
      ? result.instances.filter((instance) => instance.status === 'passing' && instance.maintenance === undefined)
      : [...result.instances];
    index = result.index;
  }
  setQueryMeta(reply, index, deps.catalog.contact());
  return excludesKonsulNode(query) ? [] : instances;
}

function sortedInstances(catalog: Catalog): readonly Instance[] {
  return catalog.query({}).instances;
}

function agentServiceWithHash(
  instance: Instance | undefined,
  id: string,
  node: ConsulNode,
): ConsulAgentService & { ContentHash: string } {
  // Consul's wording for GET /v1/agent/service/:id (agent_endpoint.go AgentService).
  if (instance === undefined) throw new ConsulHttpError(404, `unknown service ID: ${id}`);
  const service = agentService(instance, node);
  const hash = createHash('sha256').update(JSON.stringify(service)).digest('hex').slice(0, 16);
  return { ...service, ContentHash: hash };
}

function agentSelf(node: ConsulNode, catalog: Catalog): ConsulAgentSelf {
  const cluster = catalog.cluster();
  const contact = catalog.contact();
  const stats: Record<string, string> =
    cluster === null
      ? { version: VERSION }
      : {
          version: VERSION,
          store: 'etcd',
          members: cluster.members.map((member) => member.name).join(','),
          known_leader: String(contact.knownLeader),
          etcd_leader: cluster.etcdLeader ?? '',
          last_contact_ms: String(contact.lastContactMs),
          revision: String(contact.viewRevision),
        };
  return {
    Config: {
      Datacenter: node.datacenter,
      PrimaryDatacenter: node.datacenter,
      NodeName: node.name,
      NodeID: node.id,
      Revision: '',
      Server: true,
      Version: VERSION,
      BuildDate: '',
    },
    DebugConfig: {},
    Coord: null,
    Member: {
      Name: node.name,
      Addr: node.address,
      Port: 8301,
      Tags: {
        dc: node.datacenter,
        id: node.id,
        role: 'consul',
        port: '8300',
        build: `${VERSION}:konsul`,
        vsn: '2',
        vsn_min: '2',
        vsn_max: '3',
      },
      // serf.StatusAlive
      Status: 1,
      ProtocolMin: 1,
      ProtocolMax: 5,
      ProtocolCur: 2,
      DelegateMin: 2,
      DelegateMax: 5,
      DelegateCur: 4,
    },
    Stats: { konsul: stats },
    Meta: {},
  };
}

/** Consul's TTL output limit, with its note of how much was dropped (agent/checks CheckTTL). */
function truncateOutput(output: string): string {
  if (output.length <= OUTPUT_MAX) return output;
  return `${output.slice(0, OUTPUT_MAX)}\n\n... (captured ${OUTPUT_MAX} of ${output.length} characters)`;
}

/** A catch handler that replaces one KonsulError code with Consul's own error. */
function rethrow(code: string, replacement: () => ConsulHttpError): (error: unknown) => never {
  return (error) => {
    if (error instanceof KonsulError && error.code === code) throw replacement();
    throw error;
  };
}
