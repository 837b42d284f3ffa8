import t from 'tap';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { startTestKonsul } from '../helpers/konsul.js';

const run = promisify(execFile);

/**
 * dig, an independent resolver implementation, against the whole server: the HTTP face
 * registers, the DNS face answers. .ci/run installs dig (bind9-dnsutils).
 */
async function dig(port: number, ...args: string[]): Promise<string> {
  const { stdout } = await run('dig', ['@127.0.0.1', '-p', String(port), '+time=2', '+tries=1', ...args]);
  return stdout;
}

t.test('dig reads the answers a service registered over HTTP gets over DNS', async (t) => {
  const server = await startTestKonsul(t, { dns: { enabled: true } });
  const port = server.dns!.port;
  for (let i = 1; i <= 3; i++) {
    await server.app.inject({
      method: 'PUT',
      url: '/catalog/register',
      payload: { name: 'web', address: `10.0.0.${i}`, port: 8080 + i, weight: i, tags: i === 1 ? ['primary'] : [] },
    });
  }
  await server.app.inject({
    method: 'PUT',
    url: '/catalog/register',
    payload: { name: 'web', address: '2001:db8::7', port: 9000 },
  });

  const a = await dig(port, 'web.service.konsul', 'A', '+short');
  t.same(a.trim().split('\n').sort(), ['10.0.0.1', '10.0.0.2', '10.0.0.3']);
  const aaaa = await dig(port, 'WEB.Service.Konsul', 'AAAA', '+short');
  t.equal(aaaa.trim(), '2001:db8::7', 'names are case-insensitive');
  const tagged = await dig(port, 'primary.web.service.konsul', 'A', '+short');
  t.equal(tagged.trim(), '10.0.0.1');

  const srv = await dig(port, '_web._tcp.service.konsul', 'SRV');
  t.match(srv, /status: NOERROR/);
  t.match(srv, /ANSWER: 4,/);
  t.match(srv, /IN\s+SRV\s+1 3 8083 \S+\.addr\.konsul\./, 'priority 1, the weight, the port, an addr target');
  t.match(srv, /ADDITIONAL SECTION:[\s\S]*IN\s+A\s+10\.0\.0\.3/, 'the targets resolve in the additional section');

  const missing = await dig(port, 'nothing.service.konsul', 'A');
  t.match(missing, /status: NXDOMAIN/);
  t.match(missing, /AUTHORITY SECTION:[\s\S]*IN\s+SOA/);
  const outside = await dig(port, 'example.com', 'A');
  t.match(outside, /status: REFUSED/);
});

t.test('dig gets a truncated answer over UDP and the whole one when it retries over TCP', async (t) => {
  const server = await startTestKonsul(t, { dns: { enabled: true } });
  const port = server.dns!.port;
  for (let i = 1; i <= 40; i++) {
    await server.app.inject({
      method: 'PUT',
      url: '/catalog/register',
      payload: { name: 'big', address: `10.1.0.${i}`, port: 7000 },
    });
  }
  const udp = await dig(port, 'big.service.konsul', 'SRV', '+noedns', '+ignore');
  t.match(udp, /flags: qr aa tc/, 'TC is set over UDP');
  const tcp = await dig(port, 'big.service.konsul', 'SRV', '+noedns');
  t.match(tcp, /ANSWER: 40,/, 'dig retried over TCP and got all 40');
});
