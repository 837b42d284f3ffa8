import t from 'tap';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { loadConfig } from '../src/config/load.js';
import { startTestKonsul } from './helpers/konsul.js';

const run = promisify(execFile);

async function dig(port: number, ...args: string[]): Promise<string> {
  const { stdout } = await run('dig', ['@127.0.0.1', '-p', String(port), '+time=2', '+tries=1', ...args]);
  return stdout;
}

const firstAddress = (output: string) => output.trim().split('\n')[0];

t.test('dns.clientRegions orders latency-based DNS answers nearest first, by source or ECS subnet', async (t) => {
  const server = await startTestKonsul(t, {
    dns: {
      enabled: true,
      lb: 'latency-based',
      clientRegions: [
        { cidr: '127.0.0.0/8', region: 'eu' },
        { cidr: '198.51.100.0/24', region: 'us' },
        // More specific than the /24: the longest prefix wins.
        { cidr: '198.51.100.128/25', region: 'ap' },
      ],
    },
    lb: {
      latency: {
        eu: { eu: 1, us: 80, ap: 200 },
        us: { eu: 80, us: 1, ap: 150 },
        ap: { eu: 200, us: 150, ap: 1 },
      },
    },
  });
  const port = server.dns!.port;
  for (const [n, region] of [
    [1, 'eu'],
    [2, 'us'],
    [3, 'ap'],
  ] as const) {
    await server.app.inject({
      method: 'PUT',
      url: '/catalog/register',
      payload: { id: `web-${region}`, name: 'web', address: `10.0.0.${n}`, port: 8080, region },
    });
  }
  for (let i = 0; i < 3; i++) {
    t.equal(firstAddress(await dig(port, 'web.service.konsul', 'A', '+short')), '10.0.0.1', 'loopback is in eu');
    t.equal(
      firstAddress(await dig(port, 'web.service.konsul', 'A', '+short', '+subnet=198.51.100.0/25')),
      '10.0.0.2',
      'a client subnet in us',
    );
    t.equal(
      firstAddress(await dig(port, 'web.service.konsul', 'A', '+short', '+subnet=198.51.100.200/32')),
      '10.0.0.3',
      'the more specific ap rule wins',
    );
  }
  const us = await dig(port, 'web.service.konsul', 'A', '+short', '+subnet=198.51.100.0/25');
  t.same(us.trim().split('\n'), ['10.0.0.2', '10.0.0.1', '10.0.0.3'], 'nearest first, then by latency');
  const scoped = await dig(port, 'web.service.konsul', 'A', '+subnet=198.51.100.0/25');
  t.match(scoped, /CLIENT-SUBNET: 198\.51\.100\.0\/25\/25/, 'the answer is scoped to the subnet that chose it');
  // A client no rule covers gets the strategy's order without a region (by reported latency, then id).
  const elsewhere = await dig(port, 'web.service.konsul', 'A', '+short', '+subnet=203.0.113.0/24');
  t.equal(elsewhere.trim().split('\n').length, 3);
});

t.test('a clientRegions rule that is not a network is refused at start-up', async (t) => {
  t.throws(
    () => loadConfig({ env: {}, overrides: { dns: { clientRegions: [{ cidr: '10.0.0.1/8', region: 'eu' }] } } }),
    /dns\.clientRegions\[0\]\.cidr "10\.0\.0\.1\/8" has bits set past \/8/,
  );
  t.throws(
    () => loadConfig({ env: {}, overrides: { dns: { clientRegions: [{ cidr: '10.0.0.0/8', region: 'e u' }] } } }),
    /clientRegions/,
  );
});
