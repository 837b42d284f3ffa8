import t from 'tap';
import { loggedUrl } from '../src/http/logged-url.js';

t.test('a URL without a token is logged as it came', async (t) => {
  for (const url of [
    '/catalog/services/web',
    '/catalog/services/web?index=5&wait=1s',
    '/v1/kv/tokens?keys=',
    '/x?a=token=1',
  ])
    t.equal(loggedUrl(url), url);
});

t.test('the value of every key that decodes to token is redacted, however the key is spelled', async (t) => {
  t.equal(loggedUrl('/r?token=T'), '/r?token=[redacted]');
  t.equal(loggedUrl('/r?%74oken=T'), '/r?%74oken=[redacted]');
  t.equal(loggedUrl('/r?tok%65n=T&index=3'), '/r?tok%65n=[redacted]&index=3');
  t.equal(loggedUrl('/r?%54%4F%4B%45%4E=T'), '/r?%54%4F%4B%45%4E=[redacted]', 'upper case, fully escaped');
  t.equal(loggedUrl('/r?a=1&token=T&token=U'), '/r?a=1&token=[redacted]&token=[redacted]', 'repeated keys');
  t.equal(loggedUrl('/r#token=T'), '/r#token=[redacted]', 'the router also starts the query at #');
  t.equal(loggedUrl('/r?token=T%26x=1'), '/r?token=[redacted]', 'an escaped & belongs to the value');
});

t.test('a key that does not decode to token keeps its value, and a broken escape does not throw', async (t) => {
  t.equal(loggedUrl('/r?to+ken=T'), '/r?to+ken=T', '+ is a space: "to ken" is another key');
  t.equal(loggedUrl('/r?%zztoken=T'), '/r?%zztoken=T');
  t.equal(loggedUrl('/r?tokens=T'), '/r?tokens=T');
});
