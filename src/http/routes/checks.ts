import type { FastifyPluginAsync } from 'fastify';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';
import type { Catalog } from '../../catalog/catalog.js';
import type { Check, HealthStatus } from '../../catalog/types.js';
import type { HealthManager } from '../../health/manager.js';
import { waitIfBlocking, type BlockingSettings } from '../blocking.js';
import { emptyBodyIsNoBody } from '../empty-body.js';
import { BlockingQuerySchema, CheckId, CheckSchema, ServiceName, withErrors } from '../schemas.js';

export interface CheckRoutesOptions {
  catalog: Catalog;
  health: HealthManager;
  blocking: BlockingSettings;
}

const ServiceParams = Type.Object({ service: ServiceName });
const StateParams = Type.Object({ state: Type.Enum(['passing', 'warning', 'critical', 'any']) });
const CheckParams = Type.Object({ checkId: CheckId });
// No body at all is as good as an empty one: `curl -X PUT .../pass` must work.
const TtlUpdateBody = Type.Union([
  Type.Object({ note: Type.Optional(Type.String({ maxLength: 4096 })) }, { additionalProperties: false }),
  Type.Null(),
]);
const TtlUpdateResult = Type.Object({ checkId: Type.String(), status: Type.String() });

const TTL_UPDATES: readonly (readonly [verb: string, status: HealthStatus])[] = [
  ['pass', 'passing'],
  ['warn', 'warning'],
  ['fail', 'critical'],
];

/** Health reads (checks of a service, checks in a state) and the pass/warn/fail of TTL checks. */
export const checkRoutes: FastifyPluginAsync<CheckRoutesOptions> = async (plugin, { catalog, health, blocking }) => {
  const app = plugin.withTypeProvider<TypeBoxTypeProvider>();

  app.get(
    '/health/checks/:service',
    {
      schema: {
        params: ServiceParams,
        querystring: BlockingQuerySchema,
        response: withErrors({ 200: Type.Array(CheckSchema) }),
      },
    },
    async (request, reply) => {
      await waitIfBlocking(request, catalog, request.params.service, request.query, blocking);
      const view = catalog.service(request.params.service);
      void reply.header('x-konsul-index', String(catalog.serviceIndex(request.params.service)));
      const checks: Check[] = [];
      for (const instance of view?.instances ?? []) checks.push(...instance.checks);
      return checks;
    },
  );

  app.get(
    '/health/state/:state',
    {
      schema: {
        params: StateParams,
        querystring: BlockingQuerySchema,
        response: withErrors({ 200: Type.Array(CheckSchema) }),
      },
    },
    async (request, reply) => {
      await waitIfBlocking(request, catalog, undefined, request.query, blocking);
      const { state } = request.params;
      void reply.header('x-konsul-index', String(catalog.serviceIndex(undefined)));
      const checks: Check[] = [];
      for (const instance of catalog.query({}).instances) {
        for (const check of instance.checks) if (state === 'any' || check.status === state) checks.push(check);
      }
      return checks;
    },
  );

  for (const [verb, status] of TTL_UPDATES) {
    app.put(
      `/health/check/:checkId/${verb}`,
      {
        onRequest: emptyBodyIsNoBody,
        schema: { params: CheckParams, body: TtlUpdateBody, response: withErrors({ 200: TtlUpdateResult }) },
      },
      async (request) => {
        await health.updateTtl(request.params.checkId, status, request.body?.note ?? '');
        return { checkId: request.params.checkId, status };
      },
    );
  }
};
