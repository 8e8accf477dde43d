// Runs the one-origin router (site-routes.js, the file deployed as is) in
// Node, in a fresh vm context with only the JavaScript built-ins, as
// CloudFront's runtime has.
//
//   node --test infra/edge/

import test from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import vm from 'node:vm';

const source = fs.readFileSync(new URL('./site-routes.js', import.meta.url), 'utf8');

function run(uri, headers = {}) {
  const context = vm.createContext({});
  vm.runInContext(source, context);
  return context.handler({ viewer: { ip: '203.0.113.7' }, request: { uri, method: 'GET', headers, querystring: {} } });
}

const route = (uri) => run(uri).uri;

test('the API is reached under /api/, without the prefix', () => {
  assert.equal(route('/api/streams'), '/streams');
  assert.equal(route('/api/streams/01abc/viewers'), '/streams/01abc/viewers');
  assert.equal(route('/api/auth/login'), '/auth/login');
  assert.equal(route('/api'), '/');
  // Positive control: a path merely starting with "api" is not the API.
  assert.equal(route('/apiary'), '/index.html');
});

test("the API learns the viewer's address from the edge, never from the client", () => {
  const forged = { 'x-skycast-viewer-address': { value: '198.51.100.1' } };
  assert.equal(run('/api/streams', forged).headers['x-skycast-viewer-address'].value, '203.0.113.7');
  assert.equal(run('/api/auth/login').headers['x-skycast-viewer-address'].value, '203.0.113.7');
  // The app's files are not the API's business: no address added there.
  assert.equal(run('/studio').headers['x-skycast-viewer-address'], undefined);
});

test("the app's pages are its index.html, its files are themselves", () => {
  for (const page of ['/', '/live/01abc', '/watch/01abc', '/u/01abc', '/studio', '/studio/videos', '/login', '/signup', '/embed']) {
    assert.equal(route(page), '/index.html', page);
  }
  assert.equal(route('/assets/index-Dt2YoFWF.js'), '/assets/index-Dt2YoFWF.js');
  assert.equal(route('/favicon.svg'), '/favicon.svg');
});

test('the local server and the edge agree on the app routes', () => {
  // dev/src/web.rs lists the app's pages; every one of them is the app here too.
  const web = fs.readFileSync(new URL('../../dev/src/web.rs', import.meta.url), 'utf8');
  const routes = [...web.matchAll(/"(\/[^"]*)"/g)].map((m) => m[1]).filter((r) => !r.startsWith('/api') && !r.startsWith('/assets') && !r.includes('.'));
  assert.ok(routes.length >= 8, `found the local routes: ${routes}`);
  for (const r of routes) assert.equal(route(r.replace('{id}', '01abc')), '/index.html', r);
});
