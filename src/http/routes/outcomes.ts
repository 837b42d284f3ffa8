import type { FastifyPluginAsync } from 'fastify';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';
import type { Catalog } from '../../catalog/catalog.js';
import { Errors } from '../../errors.js';
import type { StrategyManager } from '../../lb/manager.js';
import { IdParams, withErrors } from '../schemas.js';

/** At most this many outcomes in one report: a client batches, it does not replay history. */
const MAX_PER_REPORT = 1_000_000;

const OutcomeReport = Type.Object(
  {
    successes: Type.Optional(Type.Integer({ minimum: 0, maximum: MAX_PER_REPORT })),
    failures: Type.Optional(Type.Integer({ minimum: 0, maximum: MAX_PER_REPORT })),
  },
  { additionalProperties: false, minProperties: 1 },
);

const OutcomeAnswer = Type.Object({
  id: Type.String(),
  consecutiveFailures: Type.Integer(),
  ejected: Type.Boolean(),
  ejectedUntil: Type.Union([Type.Integer({ description: 'epoch milliseconds' }), Type.Null()]),
});

/**
 * Outcomes clients saw talking to an instance, for outlier ejection (src/lb/outliers.ts). Kept in
 * memory on this node, like load reports: they describe the moment, not the catalog. A write, so
 * limits.writesPerSecond and auth apply.
 */
export const outcomeRoutes: FastifyPluginAsync<{ catalog: Catalog; lb: StrategyManager }> = async (
  plugin,
  { catalog, lb },
) => {
  const app = plugin.withTypeProvider<TypeBoxTypeProvider>();

  app.post(
    '/catalog/instances/:id/outcomes',
    { schema: { params: IdParams, body: OutcomeReport, response: withErrors({ 200: OutcomeAnswer }) } },
    async (request) => {
      const instance = catalog.instance(request.params.id);
      if (instance === undefined) throw Errors.instanceNotFound(request.params.id);
      const members = catalog.service(instance.name)?.instances ?? [instance];
      const result = lb.outliers.report(
        instance.name,
        instance.id,
        request.body.successes ?? 0,
        request.body.failures ?? 0,
        members.length,
        () => members.map((member) => member.id),
      );
      if (result.ejectedFor !== null)
        request.log.warn(
          { service: instance.name, instanceId: instance.id, reason: result.ejectedFor, until: result.ejectedUntil },
          'outlier ejected from answers',
        );
      else if (result.capped)
        request.log.warn(
          { service: instance.name, instanceId: instance.id },
          'outlier kept in answers: lb.outlierDetection.maxEjectionPercent of the service is already ejected',
        );
      return {
        id: instance.id,
        consecutiveFailures: result.consecutiveFailures,
        ejected: result.ejectedUntil !== null,
        ejectedUntil: result.ejectedUntil,
      };
    },
  );
};
