import t from 'tap';
import { NameRouter, routeLabels } from '../src/dns/names.js';
import { buildQuery } from './helpers/dns-client.js';

const DOMAIN = ['konsul'];
const route = (name: string, domain: readonly string[] = DOMAIN) =>
  routeLabels(name === '' ? [] : name.split('.'), domain);

t.test('service names route to the service, with a tag when one label precedes it', async (t) => {
  t.same(route('web.service.konsul'), { kind: 'service', service: 'web', tag: undefined, cacheKey: '=web' });
  t.same(route('v2.web.service.konsul'), { kind: 'service', service: 'web', tag: 'v2', cacheKey: '3:webv2' });
});

t.test('cache keys tell (service, tag) pairs apart whatever bytes the labels hold', async (t) => {
  const key = (labels: string[]) => {
    const routed = routeLabels([...labels, 'service', 'konsul'], DOMAIN);
    return routed.kind === 'service' ? routed.cacheKey : routed.kind;
  };
  const keys = [
    ['a\u0000b'],
    ['b', 'a'],
    ['a\u0000', 'b'],
    ['\u0000b', 'a'],
    ['3:abcx'],
    ['x', 'abc'],
    ['=a'],
    ['a'],
  ].map(key);
  t.equal(new Set(keys).size, keys.length, JSON.stringify(keys));
});

t.test('RFC 2782 names route to the service; _tcp and _udp are no tag, other protocol labels are', async (t) => {
  t.same(route('_web._tcp.service.konsul'), { kind: 'service', service: 'web', tag: undefined, cacheKey: '=web' });
  t.same(route('_web._udp.service.konsul'), { kind: 'service', service: 'web', tag: undefined, cacheKey: '=web' });
  t.same(route('_web._canary.service.konsul'), {
    kind: 'service',
    service: 'web',
    tag: 'canary',
    cacheKey: '3:webcanary',
  });
  t.same(route('_web.tcp.service.konsul'), { kind: 'nxdomain' });
  t.same(route('web._tcp.service.konsul'), { kind: 'nxdomain' });
  t.same(route('_._tcp.service.konsul'), { kind: 'nxdomain' });
  t.same(route('_web.service.konsul'), { kind: 'nxdomain' });
});

t.test('the apex, ns and the empty non-terminals exist; other names in the zone do not', async (t) => {
  t.same(route('konsul'), { kind: 'apex' });
  t.same(route('ns.konsul'), { kind: 'ns' });
  t.same(route('service.konsul'), { kind: 'empty' });
  t.same(route('addr.konsul'), { kind: 'empty' });
  t.same(route('node.konsul'), { kind: 'nxdomain' });
  t.same(route('a.b.c.service.konsul'), { kind: 'nxdomain' });
  t.same(route('x.web.node.konsul'), { kind: 'nxdomain' });
});

t.test('address names decode 8 hex digits to IPv4 and 32 to IPv6', async (t) => {
  t.same(route('0a000001.addr.konsul'), { kind: 'addr', octets: Buffer.from([10, 0, 0, 1]) });
  const v6 = route('20010db8000000000000000000000001.addr.konsul');
  t.equal(v6.kind === 'addr' ? v6.octets.length : 0, 16);
  t.same(route('0a00001.addr.konsul'), { kind: 'nxdomain' });
  t.same(route('x.0a000001.addr.konsul'), { kind: 'nxdomain' });
});

t.test('names outside the domain, including look-alike suffixes, are outside', async (t) => {
  t.same(route('example.com'), { kind: 'outside' });
  t.same(route(''), { kind: 'outside' });
  t.same(route('web.service.notkonsul'), { kind: 'outside' });
  t.same(route('web.service.konsul.example'), { kind: 'outside' });
});

t.test('a multi-label domain is matched label by label', async (t) => {
  const domain = ['sd', 'example', 'internal'];
  t.same(route('web.service.sd.example.internal', domain), {
    kind: 'service',
    service: 'web',
    tag: undefined,
    cacheKey: '=web',
  });
  t.same(route('sd.example.internal', domain), { kind: 'apex' });
  t.same(route('example.internal', domain), { kind: 'outside' });
});

t.test('the router folds case before routing and remembers routes per name', async (t) => {
  const router = new NameRouter('Konsul', 2);
  const upper = buildQuery('V2.WEB.Service.KONSUL', 1);
  const lower = buildQuery('v2.web.service.konsul', 1);
  const first = router.route(upper, upper.length - 4);
  t.same(first, { kind: 'service', service: 'web', tag: 'v2', cacheKey: '3:webv2' });
  t.equal(router.route(lower, lower.length - 4), first, 'both spellings share one memoized route');
  // Capacity 2: a third name clears the memo instead of growing it; routes stay correct.
  const other = buildQuery('db.service.konsul', 1);
  const third = buildQuery('x.konsul', 1);
  router.route(other, other.length - 4);
  t.same(router.route(third, third.length - 4), { kind: 'nxdomain' });
  t.same(router.route(lower, lower.length - 4), first);
});
