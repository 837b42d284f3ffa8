/** The catalogs the benchmarks query, registered over HTTP like any client would. */
import { registerMany, type Registration } from './http-client.js';

export const REGIONS = ['eu-west', 'eu-central', 'us-east', 'ap-south'];

/** Instance `i` of service `name`: distinct address and port, weights 1–4 and four regions, so weighted and latency strategies have something to do. */
export function instanceOf(name: string, i: number): Registration {
  return {
    id: `${name}-${i}`,
    name,
    address: `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`,
    port: 8080,
    weight: 1 + (i % 4),
    region: REGIONS[i % REGIONS.length],
  };
}

export async function registerService(baseUrl: string, name: string, count: number): Promise<void> {
  await registerMany(baseUrl, count, (i) => instanceOf(name, i), { concurrency: 16 });
}
