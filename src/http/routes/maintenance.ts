import type { FastifyPluginAsync } from 'fastify';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';
import type { Catalog } from '../../catalog/catalog.js';
import { DEFAULT_MAINTENANCE_REASON } from '../../catalog/maintenance.js';
import { IdParams, MaintenanceSchema, PrintableOrEmpty, withErrors } from '../schemas.js';

const MaintenanceBody = Type.Object(
  {
    enable: Type.Boolean(),
    reason: Type.Optional(PrintableOrEmpty(512)),
  },
  { additionalProperties: false },
);

/** Maintenance mode: an operator holds an instance out of every answer until taken out. */
export const maintenanceRoutes: FastifyPluginAsync<{ catalog: Catalog }> = async (plugin, { catalog }) => {
  const app = plugin.withTypeProvider<TypeBoxTypeProvider>();

  app.put(
    '/catalog/instances/:id/maintenance',
    {
      schema: {
        params: IdParams,
        body: MaintenanceBody,
        response: withErrors({
          200: Type.Object({
            id: Type.String(),
            index: Type.Integer(),
            maintenance: Type.Union([MaintenanceSchema, Type.Null()]),
          }),
        }),
      },
    },
    async (request) => {
      const { enable, reason } = request.body;
      const why = reason === undefined || reason === '' ? DEFAULT_MAINTENANCE_REASON : reason;
      return catalog.setMaintenance(request.params.id, enable ? why : null);
    },
  );
};
