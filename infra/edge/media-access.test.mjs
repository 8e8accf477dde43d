// Runs the CloudFront media guard (media-access.js, the file deployed as is)
// in Node against vectors.json, which the Rust implementation checks too.
//
//   node --test infra/edge/
//
// The function is an ES module importing 'cloudfront' and 'crypto', which
// Node does not have; the test drops those two import lines and evaluates the
// rest as a script in a fresh vm context that provides them: a fake `cf`
// whose kvs() behaves like the documented KeyValueStore helper (get() rejects
// for a missing key, exists() answers true/false) and Node's crypto. The
// context has only the JavaScript built-ins, so a stray Buffer, process or
// setTimeout in the function fails here too.

import test from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import crypto from 'node:crypto';
import vm from 'node:vm';

const SOURCE_URL = new URL('./media-access.js', import.meta.url);
const source = fs.readFileSync(SOURCE_URL, 'utf8');
const vectors = JSON.parse(fs.readFileSync(new URL('./vectors.json', import.meta.url), 'utf8'));

const IMPORTS = ["import cf from 'cloudfront';", "import crypto from 'crypto';"];

function scriptBody() {
  const lines = source.split('\n');
  for (const line of IMPORTS) {
    assert.equal(lines.filter((l) => l === line).length, 1, `the function has exactly one line \`${line}\``);
  }
  return lines.map((l) => (IMPORTS.includes(l) ? '' : l)).join('\n');
}

const MISSING = () => Object.assign(new Error('Key not found'), { name: 'KeyNotFound' });

// A fake KeyValueStore. `fail` makes reads reject as in an outage:
// 'get' only get(), 'all' get() and exists().
function fakeKvs(store, { fail = null, existsSays = null } = {}) {
  const calls = [];
  return {
    calls,
    handle: {
      async get(key, options) {
        calls.push(['get', key]);
        assert.ok(options === undefined || options.format === 'string', 'values are read as strings');
        if (fail) throw new Error('KeyValueStore unavailable');
        if (!Object.prototype.hasOwnProperty.call(store, key)) throw MISSING();
        return store[key];
      },
      async exists(key) {
        calls.push(['exists', key]);
        if (fail === 'all') throw new Error('KeyValueStore unavailable');
        if (existsSays !== null) return existsSays;
        return Object.prototype.hasOwnProperty.call(store, key);
      },
    },
  };
}

// Loads the function into a fresh context; returns its handler and the fake.
function load({ entries = vectors.entries, key = vectors.key, now = vectors.now, fail = null, existsSays = null } = {}) {
  const store = { ...entries };
  if (key !== null) store['playback-key'] = key;
  const kvs = fakeKvs(store, { fail, existsSays });
  let handles = 0;
  const cf = {
    kvs(...args) {
      handles += 1;
      assert.equal(args.length, 0, 'cf.kvs() takes the associated store, no id');
      return kvs.handle;
    },
  };
  const context = vm.createContext({ cf, crypto });
  // The runtime's Date reports the function's start time; pin it to `now`.
  vm.runInContext(`Date.now = function () { return ${now} * 1000 + 999; };`, context);
  vm.runInContext(scriptBody(), context, { filename: 'media-access.js' });
  assert.equal(typeof context.handler, 'function', 'the function defines handler()');
  assert.equal(handles, 1, 'one KeyValueStore handle, made at load');
  return { handler: context.handler, kvs };
}

// A viewer-request event as CloudFront Functions passes it.
function viewerRequest(uri, querystring = {}) {
  return {
    version: '1.0',
    context: { eventType: 'viewer-request', distributionDomainName: 'd111111abcdef8.cloudfront.net', distributionId: 'EDFDVBD6EXAMPLE', requestId: 'test' },
    viewer: { ip: '198.51.100.7' },
    request: {
      method: 'GET',
      uri,
      querystring,
      headers: { host: { value: 'd111111abcdef8.cloudfront.net' } },
      cookies: {},
    },
  };
}

// The result crosses from the vm's realm, so compare plain data.
function isRefusal(result) {
  return JSON.stringify(result) === JSON.stringify({ statusCode: 404, statusDescription: 'Not Found' });
}

async function run(handler, event) {
  const result = await handler(event);
  return result;
}

test('vectors: every listed token is signed as the schema says', () => {
  assert.ok(vectors.tokens.length > 0);
  for (const t of vectors.tokens) {
    const msg = `skycast-media-v1\n${t.stream}\n${t.session}\n${t.expires}\n${t.epoch}`;
    const sig = crypto.createHmac('sha256', vectors.key).update(msg, 'utf8').digest('base64url');
    assert.equal(t.token, `${t.expires}.${t.epoch}.${sig}`, JSON.stringify(t));
  }
});

test('vectors: every case', async (t) => {
  const { handler } = load();
  const names = new Set();
  for (const c of vectors.cases) {
    assert.ok(!names.has(c.name), `duplicate case name: ${c.name}`);
    names.add(c.name);
    await t.test(c.name, async () => {
      const query = { v: { value: '1' } };
      const event = viewerRequest(c.uri, query);
      const result = await run(handler, event);
      if (c.allow) {
        assert.equal(result, event.request, `allowed: ${c.uri}`);
        assert.equal(result.uri, c.uri_out);
        assert.equal(result.querystring, query, 'query string untouched');
        assert.deepEqual(Object.keys(result.querystring), ['v']);
        assert.equal(result.method, 'GET');
      } else {
        assert.ok(!('uri_out' in c), 'refused cases have no uri_out');
        assert.ok(isRefusal(result), `refused with 404: ${c.uri} -> ${JSON.stringify(result)}`);
      }
    });
  }
});

// Expected outcome of some vector cases, by name, for the structural tests.
function caseNamed(name) {
  const c = vectors.cases.find((x) => x.name === name);
  assert.ok(c, `vector case "${name}"`);
  return c;
}

test('garbage never throws: every input gets a 404 or a well-formed media path', async () => {
  const { handler } = load();
  const weird = [
    undefined, null, 42, {}, [], '', '/', '//', '/t', '/t/', '/t//', '/t/./', '/live/', '/recordings/',
    '\n', '/live/\u0000/x/y', '/%2e%2e/live', '/live/%2F', '/\uD800', '/'.repeat(5000), 'x'.repeat(9000),
    '/t/' + '.'.repeat(100) + '/live/a/b/c', '/t/1.2.3.4.5.6/live', '/t/99999999999999999999.1.x/live/a/b/c',
    '/live/' + 'a'.repeat(36) + '/' + 'b'.repeat(36) + '/c',
  ];
  for (const uri of weird) {
    const result = await run(handler, viewerRequest(uri));
    assert.ok(isRefusal(result), `refused: ${JSON.stringify(uri)}`);
  }
  // Broken events too.
  for (const event of [undefined, null, {}, { request: null }, { request: {} }, { request: { uri: ['/live'] } }]) {
    assert.ok(isRefusal(await run(handler, event)), `refused: ${JSON.stringify(event)}`);
  }
});

test('fuzz: random paths from media-like parts never throw and only ever yield a media path', async () => {
  const { handler } = load();
  const ids = [...Object.keys(vectors.entries), ...vectors.tokens.map((t) => t.stream), 'de61bbbc-5a67-470b-9087-e55ee153eda7'];
  const parts = ['', '.', '..', 't', 'live', 'recordings', 'master.m3u8', 'x.mp4', '%2e', '\u00e9', ...ids, ...ids.map((i) => i + '.mp4'), ...ids.map((i) => i + '.jpg'), ...vectors.tokens.map((t) => t.token)];
  let seed = 0x5eed;
  const rand = (n) => {
    seed = (seed * 1103515245 + 12345) & 0x7fffffff;
    return seed % n;
  };
  const media = /^\/(live\/[0-9a-f-]{36}\/[0-9a-f-]{36}\/.+|recordings\/[0-9a-f-]{36}\/[0-9a-f-]{36}\.(mp4|jpg))$/;
  for (let i = 0; i < 3000; i++) {
    const n = 1 + rand(7);
    let uri = '';
    for (let j = 0; j < n; j++) uri += '/' + parts[rand(parts.length)];
    const event = viewerRequest(uri);
    const result = await run(handler, event);
    if (!isRefusal(result)) {
      assert.equal(result, event.request);
      assert.match(result.uri, media, `allowed ${uri} -> ${result.uri}`);
      assert.ok(!result.uri.startsWith('/t/'), 'the token never reaches the origin or the cache key');
    }
  }
});

test('KeyValueStore outage fails closed, for public, tokened and private requests alike', async () => {
  const { handler } = load({ fail: 'all' });
  for (const name of [
    'public (no entry): bare live master',
    'public entry: bare live master',
    'public: junk token prefix is ignored and stripped',
    'private: valid token, live master',
    'public: recordings mp4',
  ]) {
    const c = caseNamed(name);
    assert.ok(isRefusal(await run(handler, viewerRequest(c.uri))), `refused in an outage: ${name}`);
  }
});

test('get() failing for a key that exists() says is there fails closed', async () => {
  const { handler } = load({ fail: 'get', existsSays: true });
  for (const name of ['public entry: bare live master', 'private: valid token, live master']) {
    const c = caseNamed(name);
    assert.ok(isRefusal(await run(handler, viewerRequest(c.uri))), name);
  }
});

test('a missing key is public only when exists() says so, for the session and then its stream', async () => {
  const { handler, kvs } = load({ fail: 'get', existsSays: false });
  const c = caseNamed('public (no entry): bare live master');
  const event = viewerRequest(c.uri);
  assert.equal(await run(handler, event), event.request);
  const [, , stream, session] = c.uri.split('/');
  assert.deepEqual(kvs.calls, [['get', session], ['exists', session], ['get', stream], ['exists', stream]]);
});

test('private media with no playback-key in the store is refused; public is not affected', async () => {
  const { handler } = load({ key: null });
  const priv = caseNamed('private: valid token, live master');
  assert.ok(isRefusal(await run(handler, viewerRequest(priv.uri))));
  const pub = caseNamed('public: junk token prefix is ignored and stripped');
  const event = viewerRequest(pub.uri);
  assert.equal((await run(handler, event)).uri, pub.uri_out);
});

test('an empty playback-key opens nothing, even a token signed with the empty key', async () => {
  const { handler } = load({ key: '' });
  const priv = caseNamed('private: valid token, live master');
  assert.ok(isRefusal(await run(handler, viewerRequest(priv.uri))));
  const [, , stream, session] = priv.uri_out.split('/'); // '', 'live', S, X, ...
  const expires = vectors.now + 60;
  const epoch = vectors.entries[session].split(':')[1];
  const sig = crypto.createHmac('sha256', '').update(`skycast-media-v1\n${stream}\n${session}\n${expires}\n${epoch}`).digest('base64url');
  assert.ok(isRefusal(await run(handler, viewerRequest(`/t/${expires}.${epoch}.${sig}${priv.uri_out}`))));
});

test('the clock: a token stops working the second after it expires', async () => {
  const c = caseNamed('private: expires == now is still valid');
  assert.equal((await run(load({ now: vectors.now }).handler, viewerRequest(c.uri))).uri, c.uri_out);
  assert.ok(isRefusal(await run(load({ now: vectors.now + 1 }).handler, viewerRequest(c.uri))));
});

test('public requests read only the session entry, never the playback key', async () => {
  const { handler, kvs } = load();
  const c = caseNamed('public: its own valid token is stripped');
  await run(handler, viewerRequest(c.uri));
  assert.deepEqual(kvs.calls.map((x) => x[1]), [c.uri_out.split('/')[3]]);
});

test('source: only the documented runtime surface', () => {
  // Comments may mention anything; look at code only.
  const code = source
    .split('\n')
    .map((l) => l.replace(/\/\/.*$/, ''))
    .join('\n');
  const imports = code.match(/^\s*import\b.*$/gm) || [];
  assert.deepEqual(imports, IMPORTS, 'imports: cloudfront and crypto only');
  for (const banned of [/\brequire\s*\(/, /\bexport\b/, /\bBuffer\b/, /\bprocess\b/, /\bTextEncoder\b/, /\bsetTimeout\b/, /\beval\s*\(/, /\bnew Function\b/, /\.then\s*\(/, /\bPromise\./, /=>/, /\bclass\b/, /\bcharCodeAt\b/, /\bpadEnd\b/]) {
    assert.ok(!banned.test(code), `not used: ${banned}`);
  }
  assert.match(code, /^async function handler\(event\)/m, 'a top-level handler(event)');
  assert.match(code, /\.digest\('base64url'\)/, 'digest encoding is one the runtime documents');
});

test('source: under the 10 KB CloudFront Functions size limit', () => {
  const bytes = Buffer.byteLength(source, 'utf8');
  assert.ok(bytes < 10 * 1024, `${bytes} bytes`);
});
