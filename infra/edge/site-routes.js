// One origin, as `make dev` serves it locally (dev/src/web.rs): the web app,
// the API under /api/, the media under /live/, /t/ and /recordings/. A
// CloudFront Function (viewer request) on the app's and the API's behaviours:
// - /api/… goes to API Gateway without its /api prefix (the functions' routes
//   are /streams, /auth/login, …), carrying the viewer's address in
//   x-skycast-viewer-address: behind CloudFront, API Gateway sees CloudFront's
//   address, and per-address limits would pool every viewer. The value is
//   always written here, so a client cannot choose it; the functions trust it
//   only next to the distribution's origin secret (crates/http/src/client.rs);
// - an app page (/, /live/{id}, /watch/{id}, /studio, …: a path whose last
//   segment has no dot) is the app's index.html, which routes in the browser;
// - anything else (/assets/…, /favicon.svg) is the bucket's object as named.
// The media behaviours never reach this function (edge.tf's guard runs there).

function handler(event) {
  var request = event.request;
  var uri = request.uri;
  if (uri === '/api' || uri.indexOf('/api/') === 0) {
    request.uri = uri.length > 4 ? uri.substring(4) : '/';
    request.headers['x-skycast-viewer-address'] = { value: event.viewer.ip };
    return request;
  }
  var last = uri.substring(uri.lastIndexOf('/') + 1);
  if (last.indexOf('.') === -1) {
    request.uri = '/index.html';
  }
  return request;
}
