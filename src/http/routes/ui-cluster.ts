import type { FastifyPluginAsync } from 'fastify';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { Type, type Static } from 'typebox';
import type { Catalog } from '../../catalog/catalog.js';
import type { CheckType } from '../../catalog/types.js';
import { NameParams, withErrors } from '../schemas.js';

/**
 * Where the health manager places checks (src/health/manager.ts): the live members its share
 * follows and the member the rendezvous hashing picks for a check. The UI reads the placement
 * from the node that applies it, never recomputes it.
 */
export interface CheckPlacement {
  /** Live members this node's share of the checks was computed from; null outside a cluster or while not a member. */
  readonly clusterMembers: readonly string[] | null;
  /** The member that runs the check (probes, or the TTL deadline); null when none does. */
  ownerOf(checkId: string): string | null;
}

/** Checks of one service with the node that runs each; null outside a cluster. */
export const CheckOwnersSchema = Type.Union([
  Type.Array(Type.Object({ checkId: Type.String(), node: Type.Union([Type.String(), Type.Null()]) })),
  Type.Null(),
]);

const CheckCounts = {
  http: Type.Integer(),
  tcp: Type.Integer(),
  /** TTL checks whose deadline this node keeps (any node takes their heartbeats). */
  ttl: Type.Integer(),
};

const CheckSpreadSchema = Type.Object({
  /** The live members the spread is computed over, as this node's health manager sees them. */
  members: Type.Union([Type.Array(Type.String()), Type.Null()]),
  nodes: Type.Array(Type.Object({ node: Type.String(), ...CheckCounts })),
  /** Checks no live member runs: health checks off here, or this node is no member. */
  unplaced: Type.Object(CheckCounts),
});
type CheckSpread = Static<typeof CheckSpreadSchema>;

const ClusterSchema = Type.Object({
  clustered: Type.Boolean(),
  index: Type.Integer(),
  members: Type.Array(
    Type.Object({
      name: Type.String(),
      http: Type.String(),
      dns: Type.Union([Type.String(), Type.Null()]),
      version: Type.String(),
      startedAt: Type.Integer(),
    }),
  ),
  etcdLeader: Type.Union([Type.String(), Type.Null()]),
  etcdMembers: Type.Array(Type.String()),
  contact: Type.Union([
    Type.Object({
      knownLeader: Type.Boolean(),
      lastContactMs: Type.Integer(),
      storeRevision: Type.Integer(),
      viewRevision: Type.Integer(),
      lagRevisions: Type.Integer(),
    }),
    Type.Null(),
  ]),
  checks: Type.Union([CheckSpreadSchema, Type.Null()]),
});

/** The checks of `instances`' service with their node, in cluster mode; null when alone. */
export function checkOwners(
  catalog: Catalog,
  placement: CheckPlacement,
  instances: readonly { checks?: readonly { id: string }[] }[],
): Static<typeof CheckOwnersSchema> {
  if (!catalog.replicated) return null;
  return instances.flatMap((instance) =>
    (instance.checks ?? []).map((check) => ({ checkId: check.id, node: placement.ownerOf(check.id) })),
  );
}

/**
 * How many checks of each type every live member runs. One pass over the catalog's checks, each
 * hashed against every member (the cost of a rebalance on one node), per read of the view.
 */
export function checkSpread(catalog: Catalog, placement: CheckPlacement): CheckSpread {
  const zero = (): Record<CheckType, number> => ({ http: 0, tcp: 0, ttl: 0 });
  const members = placement.clusterMembers;
  const counts = new Map<string, Record<CheckType, number>>((members ?? []).map((member) => [member, zero()]));
  const unplaced = zero();
  for (const instance of catalog.allInstances()) {
    for (const check of instance.checks) {
      const owner = placement.ownerOf(check.id);
      const row = (owner === null ? undefined : counts.get(owner)) ?? unplaced;
      row[check.type]++;
    }
  }
  return {
    members: members === null ? null : [...members],
    nodes: [...counts].map(([node, row]) => ({ node, ...row })),
    unplaced,
  };
}

const OwnersAnswerSchema = Type.Object({
  name: Type.String(),
  members: Type.Union([Type.Array(Type.String()), Type.Null()]),
  owners: CheckOwnersSchema,
});

/**
 * The cluster as this node sees it: members, revisions, watch lag, and the spread of the checks;
 * and which node runs each check of a service. Membership changes move no catalog index, so the
 * UI re-reads these two while they show rather than waiting on the catalog's watch sets.
 */
export const uiClusterRoutes: FastifyPluginAsync<{ catalog: Catalog; placement: CheckPlacement }> = async (
  plugin,
  { catalog, placement },
) => {
  const app = plugin.withTypeProvider<TypeBoxTypeProvider>();
  app.get('/ui/api/cluster', { schema: { response: withErrors({ 200: ClusterSchema }) } }, async () => {
    const view = catalog.cluster();
    const index = catalog.serviceIndex(undefined);
    if (view === null)
      return { clustered: false, index, members: [], etcdLeader: null, etcdMembers: [], contact: null, checks: null };
    const contact = catalog.contact();
    return {
      clustered: true,
      index,
      ...view,
      contact: { ...contact, lagRevisions: Math.max(0, contact.storeRevision - contact.viewRevision) },
      checks: checkSpread(catalog, placement),
    };
  });

  app.get(
    '/ui/api/services/:name/owners',
    { schema: { params: NameParams, response: withErrors({ 200: OwnersAnswerSchema }) } },
    async (request) => {
      const name = request.params.name.toLowerCase();
      const members = placement.clusterMembers;
      return {
        name,
        members: members === null ? null : [...members],
        owners: checkOwners(catalog, placement, catalog.service(name)?.instances ?? []),
      };
    },
  );
};
