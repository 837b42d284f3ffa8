import type { FastifyPluginAsync } from 'fastify';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';
import type { Catalog } from '../../catalog/catalog.js';
import type { StatusHistory } from '../../catalog/status-history.js';
import type { PreviewAnswer, PreviewType } from '../../dns/preview.js';
import { Errors } from '../../errors.js';
import { sampleDistribution } from '../../lb/distribution.js';
import { createStrategyManager, type StrategyManager } from '../../lb/manager.js';
import type { LbConfig } from '../../lb/types.js';
import { waitIfBlocking, type BlockingSettings } from '../blocking.js';
import {
  BlockingQuerySchema,
  InstanceDetailSchema,
  NameParams,
  ServiceName,
  ServiceSummarySchema,
  Tag,
  withErrors,
} from '../schemas.js';
import { checkOwners, CheckOwnersSchema, uiClusterRoutes, type CheckPlacement } from './ui-cluster.js';

export interface DnsPreviewer {
  preview(name: string, type: PreviewType, source: string): PreviewAnswer;
}

export interface UiApiOptions {
  catalog: Catalog;
  lb: StrategyManager;
  lbConfig: LbConfig;
  blocking: BlockingSettings;
  history: StatusHistory;
  /** The DNS face (its own answer code), or null while DNS is off or not started yet. */
  dns: () => DnsPreviewer | null;
  dnsDomain: string;
  /** Whether writes and reads need the token (auth.token set; auth.protectReads). */
  auth: { writes: boolean; reads: boolean };
  /** Which node runs each check in cluster mode: the health manager's own placement. */
  placement: CheckPlacement;
}

/** Keys sampled for a strategy keyed by the client, and queries in a window for the others. */
export const DISTRIBUTION_KEYS = 10_000;
export const DISTRIBUTION_WINDOW = 1_000;
/** Distribution samples running at once; more are refused (each costs up to 10,000 orderings). */
const MAX_SAMPLINGS = 2;
/** Tags listed per service in the overview. */
const MAX_TAGS = 16;
/** Status changes sent with a service. */
const SERVICE_HISTORY = 100;

const HealthStatus = Type.Union([Type.Literal('passing'), Type.Literal('warning'), Type.Literal('critical')]);
const StatusChangeSchema = Type.Object({
  at: Type.Integer(),
  index: Type.Union([Type.Integer(), Type.Null()]),
  service: Type.String(),
  instanceId: Type.String(),
  kind: Type.String(),
  checkId: Type.Union([Type.String(), Type.Null()]),
  from: Type.Union([HealthStatus, Type.Null()]),
  to: Type.Union([HealthStatus, Type.Null()]),
  note: Type.String(),
});

const ServiceDetailSchema = Type.Object({
  name: Type.String(),
  index: Type.Integer(),
  instances: Type.Array(InstanceDetailSchema),
  history: Type.Array(StatusChangeSchema),
  /** In cluster mode, the node that runs each check (for TTL checks: keeps the deadline). */
  owners: CheckOwnersSchema,
});

const OverviewSchema = Type.Object({
  index: Type.Integer(),
  defaultStrategy: Type.String(),
  strategies: Type.Array(Type.String()),
  dns: Type.Object({ enabled: Type.Boolean(), domain: Type.String() }),
  clustered: Type.Boolean(),
  auth: Type.Object({ writes: Type.Boolean(), reads: Type.Boolean() }),
  routes: Type.Object({ maintenance: Type.Boolean() }),
  services: Type.Array(
    Type.Object({
      ...ServiceSummarySchema.properties,
      tags: Type.Array(Type.String()),
      changedAt: Type.Union([Type.Integer(), Type.Null()]),
      /** The strategy a query without `lb` gets: the service's config (`service`) or lb.default (`server`). */
      strategy: Type.String(),
      strategyFrom: Type.Union([Type.Literal('service'), Type.Literal('server')]),
    }),
  ),
  /** With `?service=`: that service's detail, so a tab on a service page still needs one stream. */
  detail: Type.Optional(ServiceDetailSchema),
});

const OverviewQuerySchema = Type.Object(
  { ...BlockingQuerySchema.properties, service: Type.Optional(ServiceName) },
  { additionalProperties: false },
);

const RecordSchema = Type.Object({
  name: Type.String(),
  type: Type.String(),
  ttl: Type.Integer(),
  data: Type.String(),
});
const DnsPreviewSchema = Type.Object({
  name: Type.String(),
  type: Type.String(),
  rcode: Type.String(),
  truncated: Type.Boolean(),
  answers: Type.Array(RecordSchema),
  additionals: Type.Array(RecordSchema),
});

const DistributionSchema = Type.Object({
  strategy: Type.String(),
  sampling: Type.String(),
  samples: Type.Integer(),
  panic: Type.Boolean(),
  instances: Type.Array(
    Type.Object({
      id: Type.String(),
      weight: Type.Integer(),
      weightShare: Type.Number(),
      first: Type.Integer(),
      share: Type.Number(),
    }),
  ),
});

/**
 * What the web UI reads beyond the public API: the services with their tags and last change,
 * a service with its checks and status history, DNS previews from the DNS face's own code, the
 * spread of a strategy, and the cluster. Reads only; protected by the token like every read.
 */
export const uiApiRoutes: FastifyPluginAsync<UiApiOptions> = async (plugin, options) => {
  const app = plugin.withTypeProvider<TypeBoxTypeProvider>();
  const { catalog, history } = options;
  // Sampling runs on a manager of its own, so it takes no turn from real clients' rotations.
  const sampler = createStrategyManager(options.lbConfig);
  app.addHook('onClose', async () => sampler.close());
  let sampling = 0;
  const serviceDetail = (service: string) => {
    const name = service.toLowerCase();
    const instances = [...(catalog.service(name)?.instances ?? [])];
    return {
      name,
      index: catalog.serviceIndex(name),
      instances,
      history: history.entries(name, SERVICE_HISTORY),
      owners: checkOwners(catalog, options.placement, instances),
    };
  };
  const strategyOf = (service: string) => {
    const configured = catalog.serviceConfig(service)?.config.lb;
    return configured === undefined
      ? { strategy: options.lbConfig.default, strategyFrom: 'server' as const }
      : { strategy: configured, strategyFrom: 'service' as const };
  };

  app.get(
    '/ui/api/overview',
    { schema: { querystring: OverviewQuerySchema, response: withErrors({ 200: OverviewSchema }) } },
    async (request, reply) => {
      await waitIfBlocking(request, catalog, undefined, request.query, options.blocking);
      const index = catalog.serviceIndex(undefined);
      void reply.header('x-konsul-index', String(index));
      const changedAt = new Map<string, number>();
      for (const change of history.entries())
        if (!changedAt.has(change.service)) changedAt.set(change.service, change.at);
      return {
        index,
        defaultStrategy: options.lbConfig.default,
        strategies: options.lb.enabled(),
        dns: { enabled: options.dns() !== null, domain: options.dnsDomain },
        clustered: catalog.replicated,
        auth: options.auth,
        routes: { maintenance: plugin.hasRoute({ method: 'PUT', url: '/catalog/instances/:id/maintenance' }) },
        services: catalog.summaries().map((summary) => ({
          ...summary,
          tags: tagsOf(catalog, summary.name),
          changedAt: changedAt.get(summary.name) ?? null,
          ...strategyOf(summary.name),
        })),
        ...(request.query.service === undefined ? {} : { detail: serviceDetail(request.query.service) }),
      };
    },
  );

  app.get(
    '/ui/api/services/:name',
    {
      schema: {
        params: NameParams,
        querystring: BlockingQuerySchema,
        response: withErrors({ 200: ServiceDetailSchema }),
      },
    },
    async (request, reply) => {
      const name = request.params.name.toLowerCase();
      await waitIfBlocking(request, catalog, name, request.query, options.blocking);
      const index = catalog.serviceIndex(name);
      void reply.header('x-konsul-index', String(index));
      return serviceDetail(name);
    },
  );

  app.get(
    '/ui/api/dns/:name',
    {
      schema: {
        params: NameParams,
        querystring: Type.Object(
          { type: Type.Union([Type.Literal('A'), Type.Literal('SRV')]), tag: Type.Optional(Tag) },
          { additionalProperties: false },
        ),
        response: withErrors({ 200: DnsPreviewSchema }),
      },
    },
    async (request) => {
      const { type, tag } = request.query;
      // The tag is a DNS label in the name (RFC 2782 style `<tag>.<service>.service.<domain>`).
      if (tag !== undefined && !/^[A-Za-z0-9_-]{1,63}$/.test(tag))
        throw Errors.validationFailed('querystring.tag: a tag must be one DNS label to be asked for over DNS');
      const name = `${tag === undefined ? '' : `${tag}.`}${request.params.name}.service.${options.dnsDomain}`;
      const dns = options.dns();
      if (dns === null) throw Errors.dnsDisabled();
      return dns.preview(name, type, request.ip);
    },
  );

  app.get(
    '/ui/api/distribution/:name',
    {
      schema: {
        params: NameParams,
        querystring: Type.Object(
          { lb: Type.Optional(Type.String({ minLength: 1, maxLength: 64 })), passing: Type.Optional(Type.Boolean()) },
          { additionalProperties: false },
        ),
        response: withErrors({ 200: DistributionSchema }),
      },
    },
    async (request) => {
      if (sampling >= MAX_SAMPLINGS) throw Errors.uiBusy(MAX_SAMPLINGS);
      const result = catalog.query({ name: request.params.name });
      sampling++;
      try {
        return await sampleDistribution(
          sampler,
          { key: result.key, service: result.service, instances: result.instances, members: result.members },
          {
            // Without lb: the strategy the service's answers use by default (its config, else lb.default).
            strategy: request.query.lb ?? strategyOf(request.params.name).strategy,
            keys: DISTRIBUTION_KEYS,
            window: DISTRIBUTION_WINDOW,
            passingOnly: request.query.passing ?? false,
          },
        );
      } finally {
        sampling--;
      }
    },
  );

  await plugin.register(uiClusterRoutes, { catalog, placement: options.placement });
};

function tagsOf(catalog: Catalog, name: string): string[] {
  const tags = new Set<string>();
  for (const instance of catalog.service(name)?.instances ?? []) {
    for (const tag of instance.tags) {
      if (tags.size >= MAX_TAGS) return [...tags].sort();
      tags.add(tag);
    }
  }
  return [...tags].sort();
}
