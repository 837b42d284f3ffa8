/**
 * The baseline server: bare Fastify routes that do the least a catalog server could do, run in
 * their own process like Konsul. GET /catalog/services (and /catalog/services/:name, and
 * /v1/health/service/:name) answer a fixed body, byte for byte what Konsul answered, with its content-type;
 * GET /health/live answers Konsul's liveness body; PUT /catalog/register
 * parses the JSON body, as Konsul must, and answers 200 with the same shape Konsul does.
 *
 *   BARE_PORT=9000 BARE_BODY_FILE=answer.json npx tsx bench/bare-server.ts
 *
 * Started by bench/lib/processes.ts (startBareServer); not useful on its own.
 */
import { readFileSync } from 'node:fs';
import Fastify from 'fastify';

const port = Number(process.env.BARE_PORT ?? 0);
const body = process.env.BARE_BODY_FILE === undefined ? Buffer.from('[]') : readFileSync(process.env.BARE_BODY_FILE);
const contentType = process.env.BARE_CONTENT_TYPE ?? 'application/json; charset=utf-8';

const app = Fastify({ logger: false });
let index = 0;

app.get('/health/ready', async () => ({ status: 'ready' }));
/** Konsul's liveness answer, byte for byte: the route with no catalog work, for the lifecycle pairing. */
const live = Buffer.from('{"status":"live"}');
app.get('/health/live', (_request, reply) => {
  void reply.header('content-type', 'application/json; charset=utf-8').send(live);
});
app.get('/catalog/services', (_request, reply) => {
  void reply.header('content-type', contentType).send(body);
});
app.get('/catalog/services/:name', (_request, reply) => {
  void reply.header('content-type', contentType).send(body);
});
app.get('/v1/health/service/:name', (_request, reply) => {
  void reply.header('content-type', contentType).send(body);
});
app.put('/catalog/register', async (request) => {
  const registration = request.body as { id?: unknown };
  index += 1;
  return { id: typeof registration.id === 'string' ? registration.id : 'unnamed', index };
});

const stop = (): void => {
  void app.close().then(() => process.exit(0));
};
process.on('SIGTERM', stop);
process.on('SIGINT', stop);

await app.listen({ host: '127.0.0.1', port });
process.stdout.write(`${JSON.stringify({ port: (app.server.address() as { port: number }).port })}\n`);
