import type { FastifyPluginAsync } from 'fastify';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { Type, type Static } from 'typebox';
import type { ServiceConfig } from '../../catalog/types.js';
import { parseDuration } from '../../duration.js';
import { Errors } from '../../errors.js';
import { waitIfBlocking } from '../blocking.js';
import { emptyBodyIsNoBody } from '../empty-body.js';
import type { ServiceQueryDeps } from '../service-query.js';
import { BlockingQuerySchema, NameParams, Tag, withErrors } from '../schemas.js';

/** A service's defaults, named like the query parameters they stand in for. */
export const ServiceConfigSchema = Type.Object(
  {
    lb: Type.Optional(Type.String({ minLength: 1, maxLength: 64 })),
    limit: Type.Optional(Type.Integer({ minimum: 0, maximum: 100000 })),
    passing: Type.Optional(Type.Boolean()),
    panicThreshold: Type.Optional(Type.Integer({ minimum: 0, maximum: 100 })),
    split: Type.Optional(
      Type.Array(
        Type.Object(
          { tag: Tag, weight: Type.Integer({ minimum: 0, maximum: 10000 }) },
          { additionalProperties: false },
        ),
        { minItems: 1, maxItems: 16 },
      ),
    ),
    slowStart: Type.Optional(Type.String({ minLength: 1, maxLength: 32 })),
  },
  { additionalProperties: false },
);
type ServiceConfigBody = Static<typeof ServiceConfigSchema>;

const ConfigAnswer = Type.Object({ name: Type.String(), config: ServiceConfigSchema, index: Type.Integer() });
const ConfigWritten = Type.Object({ name: Type.String(), index: Type.Integer() });

/** What the policy routes use of a service query's dependencies: they answer no instance lists. */
type ServiceConfigDeps = Pick<ServiceQueryDeps, 'catalog' | 'lb' | 'blocking'>;

/** Per-service policy: stored in the catalog, read by every service query without `lb` and every DNS answer. */
export const serviceConfigRoutes: FastifyPluginAsync<ServiceConfigDeps> = async (plugin, deps) => {
  const app = plugin.withTypeProvider<TypeBoxTypeProvider>();
  const { catalog, lb } = deps;

  app.put(
    '/catalog/services/:name/config',
    { schema: { params: NameParams, body: ServiceConfigSchema, response: withErrors({ 200: ConfigWritten }) } },
    async (request) => {
      const body = request.body;
      // A strategy that does not exist or is disabled would fail every query of the service.
      if (body.lb !== undefined) lb.resolve(body.lb);
      if (body.split !== undefined) checkSplit(body.split);
      if (body.slowStart !== undefined) checkSlowStart(body.slowStart);
      return catalog.configureService(request.params.name, configOf(body));
    },
  );

  app.get(
    '/catalog/services/:name/config',
    {
      schema: { params: NameParams, querystring: BlockingQuerySchema, response: withErrors({ 200: ConfigAnswer }) },
    },
    async (request, reply) => {
      const { name } = request.params;
      await waitIfBlocking(request, catalog, name, request.query, deps.blocking);
      const entry = catalog.serviceConfig(name);
      void reply.header('x-konsul-index', String(catalog.serviceIndex(name)));
      if (entry === undefined) throw Errors.serviceConfigNotFound(name.toLowerCase());
      return { name: entry.name, config: entry.config, index: entry.modifyIndex };
    },
  );

  app.delete(
    '/catalog/services/:name/config',
    { onRequest: emptyBodyIsNoBody, schema: { params: NameParams, response: withErrors({ 200: ConfigWritten }) } },
    async (request) => catalog.configureService(request.params.name, null),
  );
};

/** Only the keys given: a config never holds an `undefined` value. */
function configOf(body: ServiceConfigBody): ServiceConfig {
  return {
    ...(body.lb === undefined ? {} : { lb: body.lb }),
    ...(body.limit === undefined ? {} : { limit: body.limit }),
    ...(body.passing === undefined ? {} : { passing: body.passing }),
    ...(body.panicThreshold === undefined ? {} : { panicThreshold: body.panicThreshold }),
    ...(body.split === undefined ? {} : { split: body.split.map(({ tag, weight }) => ({ tag, weight })) }),
    ...(body.slowStart === undefined ? {} : { slowStart: body.slowStart }),
  };
}

/** What the schema cannot say: each tag once, and some weight to share out. */
function checkSplit(split: readonly { tag: string; weight: number }[]): void {
  const tags = new Set<string>();
  for (const { tag } of split) {
    if (tags.has(tag)) throw Errors.validationFailed(`body.split: tag "${tag}" appears more than once`);
    tags.add(tag);
  }
  if (split.every(({ weight }) => weight === 0))
    throw Errors.validationFailed('body.split: at least one side needs a weight above 0');
}

/** A duration the manager can parse; a bad one would silently turn the ramp off. */
function checkSlowStart(window: string): void {
  if (parseDuration(window) === undefined) throw Errors.invalidDuration('body.slowStart', window);
}
