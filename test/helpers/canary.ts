import type { LightMyRequestResponse } from 'fastify';
import type { TestKonsul } from './konsul.js';

/** Four v1 instances (10.0.1.x) and two v2 canaries (10.0.2.x) of `web`, for the split tests. */
export async function registerCanary(server: TestKonsul, canaryChecks: unknown[] = []): Promise<void> {
  const instances = [
    ...[1, 2, 3, 4].map((n) => ({ id: `v1-${n}`, address: `10.0.1.${n}`, tags: ['v1'], checks: [] as unknown[] })),
    ...[1, 2].map((n) => ({ id: `v2-${n}`, address: `10.0.2.${n}`, tags: ['v2'], checks: canaryChecks })),
  ];
  for (const instance of instances) {
    const response = await server.app.inject({
      method: 'PUT',
      url: '/catalog/register',
      payload: { name: 'web', port: 8080, ...instance },
    });
    if (response.statusCode !== 200) throw new Error(response.body);
  }
}

export function putConfig(server: TestKonsul, config: Record<string, unknown>): Promise<LightMyRequestResponse> {
  return server.app.inject({ method: 'PUT', url: '/catalog/services/web/config', payload: config });
}
