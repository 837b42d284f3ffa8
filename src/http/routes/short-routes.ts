import type { FastifyPluginAsync } from 'fastify';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';
import { Errors } from '../../errors.js';
import type { HealthManager } from '../../health/manager.js';
import { waitIfBlocking } from '../blocking.js';
import { emptyBodyIsNoBody } from '../empty-body.js';
import { InstanceListJson } from '../instance-json.js';
import { answerServiceInstances, type ServiceQueryDeps } from '../service-query.js';
import {
  BlockingQuerySchema,
  IdParams,
  InstanceSchema,
  NameParams,
  RegistrationSchema,
  ServiceQuerySchema,
  ServiceSummarySchema,
  WriteResultSchema,
  withErrors,
} from '../schemas.js';

export interface ShortRoutesOptions extends ServiceQueryDeps {
  health: HealthManager;
  /** The TTL an instance registered without checks gets, so a missed heartbeat takes it out. */
  defaultTtl: string;
}

const HeartbeatBody = Type.Union([
  Type.Object({ note: Type.Optional(Type.String({ maxLength: 4096 })) }, { additionalProperties: false }),
  Type.Null(),
]);

/**
 * The short routes earlier Konsul clients use. Each is the catalog route it names, with one
 * difference: `/register` gives a check-less instance a TTL check, passing until it lapses, and
 * `/heartbeat/:id` passes it again.
 */
export const shortRoutes: FastifyPluginAsync<ShortRoutesOptions> = async (plugin, deps) => {
  const app = plugin.withTypeProvider<TypeBoxTypeProvider>();
  // Each instance's JSON once per instance record, shared by this plugin's service queries.
  const instanceJson = new InstanceListJson(InstanceSchema, deps.answers);
  const { catalog, health } = deps;

  app.put(
    '/register',
    { schema: { body: RegistrationSchema, response: withErrors({ 200: WriteResultSchema }) } },
    async (request) => {
      const registration = request.body;
      // The instance is passing from the moment it registers: a client that registers and
      // queries at once finds it. Its TTL runs from the registration, so without a heartbeat
      // within defaultTtl it turns critical as any TTL check does.
      const checks = registration.checks ?? [
        { type: 'ttl' as const, ttl: deps.defaultTtl, status: 'passing' as const },
      ];
      const { id, index } = await catalog.register({ ...registration, checks });
      return { id, index };
    },
  );

  app.get(
    '/services/',
    { schema: { querystring: BlockingQuerySchema, response: withErrors({ 200: Type.Array(ServiceSummarySchema) }) } },
    async (request, reply) => {
      await waitIfBlocking(request, catalog, undefined, request.query, deps.blocking);
      void reply.header('x-konsul-index', String(catalog.serviceIndex(undefined)));
      return catalog.summaries();
    },
  );

  app.get(
    '/services/:name',
    {
      schema: {
        params: NameParams,
        querystring: ServiceQuerySchema,
        response: withErrors({ 200: Type.Array(InstanceSchema) }),
      },
    },
    (request, reply) => answerServiceInstances(deps, instanceJson, request, reply, request.params.name, request.query),
  );

  app.delete(
    '/deregister/:id',
    { onRequest: emptyBodyIsNoBody, schema: { params: IdParams, response: withErrors({ 200: WriteResultSchema }) } },
    async (request) => {
      return catalog.deregister(request.params.id);
    },
  );

  app.put(
    '/heartbeat/:id',
    {
      onRequest: emptyBodyIsNoBody,
      schema: {
        params: IdParams,
        body: Type.Optional(HeartbeatBody),
        response: withErrors({ 200: Type.Object({ id: Type.String(), checks: Type.Array(Type.String()) }) }),
      },
    },
    async (request) => {
      const instance = catalog.instance(request.params.id);
      if (instance === undefined) throw Errors.instanceNotFound(request.params.id);
      const ttlChecks = instance.checks.filter((check) => check.type === 'ttl');
      if (ttlChecks.length === 0)
        throw Errors.validationFailed(`instance "${instance.id}" has no ttl check to heartbeat`);
      const note = request.body?.note ?? '';
      // Together, so the checks of one heartbeat share one commit.
      await Promise.all(ttlChecks.map((check) => health.updateTtl(check.id, 'passing', note)));
      return { id: instance.id, checks: ttlChecks.map((check) => check.id) };
    },
  );
};
