import type { FastifyPluginAsync } from 'fastify';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';
import { Errors } from '../../errors.js';
import { waitIfBlocking } from '../blocking.js';
import { emptyBodyIsNoBody } from '../empty-body.js';
import { InstanceListJson } from '../instance-json.js';
import { answerServiceInstances, type ServiceQueryDeps } from '../service-query.js';
import {
  BlockingQuerySchema,
  IdParams,
  InstanceDetailSchema,
  InstanceSchema,
  NameParams,
  RegistrationSchema,
  ServiceListQuerySchema,
  ServiceQuerySchema,
  ServiceSummarySchema,
  WriteResultSchema,
  withErrors,
} from '../schemas.js';

const LoadReportSchema = Type.Object(
  {
    connections: Type.Optional(Type.Integer({ minimum: 0, maximum: 10_000_000 })),
    latencyMs: Type.Optional(Type.Number({ minimum: 0, maximum: 3_600_000 })),
  },
  { additionalProperties: false, minProperties: 1 },
);

/** Registration, removal and queries of the catalog. */
export const catalogRoutes: FastifyPluginAsync<ServiceQueryDeps> = async (plugin, deps) => {
  const app = plugin.withTypeProvider<TypeBoxTypeProvider>();
  // Each instance's JSON once per instance record, shared by this plugin's service queries.
  const instanceJson = new InstanceListJson(InstanceSchema, deps.answers);
  const { catalog, lb } = deps;

  app.put(
    '/catalog/register',
    { schema: { body: RegistrationSchema, response: withErrors({ 200: WriteResultSchema }) } },
    async (request) => {
      const { id, index } = await catalog.register(request.body);
      return { id, index };
    },
  );

  app.delete(
    '/catalog/instances/:id',
    { onRequest: emptyBodyIsNoBody, schema: { params: IdParams, response: withErrors({ 200: WriteResultSchema }) } },
    async (request) => {
      return catalog.deregister(request.params.id);
    },
  );

  app.get(
    '/catalog/instances/:id',
    { schema: { params: IdParams, response: withErrors({ 200: InstanceDetailSchema }) } },
    async (request, reply) => {
      const instance = catalog.instance(request.params.id);
      if (instance === undefined) throw Errors.instanceNotFound(request.params.id);
      void reply.header('x-konsul-index', String(instance.modifyIndex));
      return instance;
    },
  );

  app.put(
    '/catalog/instances/:id/load',
    {
      schema: {
        params: IdParams,
        body: LoadReportSchema,
        response: withErrors({
          200: Type.Object({
            id: Type.String(),
            connections: Type.Integer(),
            latencyMs: Type.Union([Type.Number(), Type.Null()]),
          }),
        }),
      },
    },
    async (request) => {
      const instance = catalog.instance(request.params.id);
      if (instance === undefined) throw Errors.instanceNotFound(request.params.id);
      lb.reportLoad(instance.id, request.body, instance.name);
      return { id: instance.id, ...lb.loadOf(instance.id) };
    },
  );

  app.get(
    '/catalog/services',
    { schema: { querystring: ServiceListQuerySchema, response: withErrors({ 200: Type.Array(InstanceSchema) }) } },
    (request, reply) => answerServiceInstances(deps, instanceJson, request, reply, request.query.name, request.query),
  );

  app.get(
    '/catalog/services/:name',
    {
      schema: {
        params: NameParams,
        querystring: ServiceQuerySchema,
        response: withErrors({ 200: Type.Array(InstanceSchema) }),
      },
    },
    (request, reply) => answerServiceInstances(deps, instanceJson, request, reply, request.params.name, request.query),
  );

  app.get(
    '/catalog/service-names',
    { schema: { querystring: BlockingQuerySchema, response: withErrors({ 200: Type.Array(ServiceSummarySchema) }) } },
    async (request, reply) => {
      await waitIfBlocking(request, catalog, undefined, request.query, deps.blocking);
      void reply.header('x-konsul-index', String(catalog.serviceIndex(undefined)));
      return catalog.summaries();
    },
  );
};
