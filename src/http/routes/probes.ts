import type { FastifyPluginAsync } from 'fastify';
import { Type } from 'typebox';
import { Errors } from '../../errors.js';
import { withErrors } from '../schemas.js';

export interface ProbeOptions {
  /** Why the server cannot serve yet, or null when it can. */
  notReadyReason: () => string | null;
}

const ProbeBody = Type.Object({ status: Type.String() });

/** Liveness and readiness for orchestrators; never behind the token. */
export const probeRoutes: FastifyPluginAsync<ProbeOptions> = async (app, { notReadyReason }) => {
  app.get('/health/live', { schema: { response: { 200: ProbeBody } } }, async () => ({ status: 'live' }));

  app.get('/health/ready', { schema: { response: withErrors({ 200: ProbeBody }) } }, async () => {
    const reason = notReadyReason();
    if (reason !== null) throw Errors.notReady(reason);
    return { status: 'ready' };
  });
};
