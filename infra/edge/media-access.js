import cf from 'cloudfront';
import crypto from 'crypto';

// Skycast media guard: a CloudFront Function (runtime cloudfront-js-2.0) on
// viewer request, in front of /live/{S}/{X}/... and /recordings/{S}/{X}.mp4|.jpg.
//
// A session's access state is in the associated KeyValueStore under its id X:
// "public:{epoch}", "private:{epoch}" or "gone:{epoch}"; without one, its
// stream's under S; without either, public.
// Private media needs a /t/{expires}.{epoch}.{sig} prefix, sig being
// base64url(HMAC-SHA256(playback-key, "skycast-media-v1\nS\nX\nexpires\nepoch")),
// and the prefix is dropped before the cache lookup so every viewer shares one
// cached copy. Anything refused gets a bare 404, never a 403, so the answer
// does not say that private media exists.
//
// The Rust side implements the same rules; infra/edge/vectors.json holds both
// to them (node --test infra/edge/).

// The docs ask for the handle in the first lines, made once per function.
const kvs = cf.kvs();

function refuse() {
  return { statusCode: 404, statusDescription: 'Not Found' };
}

// The only clock read (the tests pin Date.now). In this runtime Date.now() is
// the time the function started.
function nowSeconds() {
  return Math.floor(Date.now() / 1000);
}

// Explicit character checks instead of anchored regexes: the runtime documents
// a Perl-compatible regex language, where `$` may also match before a final
// newline. codePointAt, not charCodeAt: only the former is in the runtime 2.0
// feature list.
function isDigits(s, max) {
  if (s.length < 1 || s.length > max) return false;
  for (var i = 0; i < s.length; i++) {
    var c = s.codePointAt(i);
    if (c < 48 || c > 57) return false;
  }
  return true;
}

// A path segment or token of plain name characters: A-Z a-z 0-9 . _ -
function isName(s) {
  for (var i = 0; i < s.length; i++) {
    var c = s.codePointAt(i);
    var ok = (c >= 48 && c <= 57) || (c >= 65 && c <= 90) || (c >= 97 && c <= 122) || c === 46 || c === 95 || c === 45;
    if (!ok) return false;
  }
  return true;
}

// Lowercase hyphenated UUID, exactly 36 chars.
function isUuid(s) {
  if (s.length !== 36) return false;
  for (var i = 0; i < 36; i++) {
    var c = s.codePointAt(i);
    if (i === 8 || i === 13 || i === 18 || i === 23) {
      if (c !== 45) return false;
    } else if (!((c >= 48 && c <= 57) || (c >= 97 && c <= 102))) {
      return false;
    }
  }
  return true;
}

// Epochs compare as integers; dropping leading zeros and comparing the digit
// strings does that for any length, with no float rounding.
function canon(d) {
  var i = 0;
  while (i < d.length - 1 && d.charAt(i) === '0') i++;
  return d.substring(i);
}

// Constant time over the expected signature's (fixed) length: no early exit,
// so timing does not reveal how many leading characters were right.
function sameString(want, got) {
  var diff = want.length ^ got.length;
  for (var i = 0; i < want.length; i++) {
    diff |= want.codePointAt(i) ^ (got.codePointAt(i) | 0);
  }
  return diff === 0;
}

// Splits the URI into optional token and media path; null if it is not one of
// ours. The uri is the viewer's path as CloudFront hands it over (no query).
function parse(uri) {
  if (typeof uri !== 'string') return null;
  var seg = uri.split('/');
  if (seg[0] !== '') return null;
  for (var i = 1; i < seg.length; i++) {
    // Empty, . and .. segments could make S3 keys and our reading disagree;
    // and only plain names (A-Z a-z 0-9 . _ -): no percent-encoding, which
    // another reader might decode differently.
    if (seg[i] === '' || seg[i] === '.' || seg[i] === '..' || !isName(seg[i])) return null;
  }
  var token = null;
  var m = seg.slice(1);
  if (m[0] === 't') {
    if (m.length < 2) return null;
    token = m[1];
    m = m.slice(2);
  }
  var stream, session;
  if (m.length >= 4 && m[0] === 'live' && isUuid(m[1]) && isUuid(m[2])) {
    stream = m[1];
    session = m[2];
  } else if (m.length === 3 && m[0] === 'recordings' && isUuid(m[1])) {
    var f = m[2];
    var ext = f.substring(36);
    if (ext !== '.mp4' && ext !== '.jpg') return null;
    session = f.substring(0, 36);
    if (!isUuid(session)) return null;
    stream = m[1];
  } else {
    return null;
  }
  return { stream: stream, session: session, token: token, media: '/' + m.join('/') };
}

// An entry's state as { state, epoch } ('absent' when the store has none), or
// null when the store cannot be read (the caller then refuses: fail closed).
async function accessState(session) {
  var value;
  try {
    value = await kvs.get(session);
  } catch (e) {
    // get() rejects for a missing key and for any other failure alike, and
    // the docs give no way to tell them apart; only exists() saying a plain
    // "no" makes the session public.
    var found;
    try {
      found = await kvs.exists(session);
    } catch (e2) {
      return null;
    }
    return found === false ? { state: 'absent', epoch: '0' } : null;
  }
  var gone = { state: 'gone', epoch: '0' };
  if (typeof value !== 'string') return gone;
  var c = value.indexOf(':');
  if (c < 0) return gone;
  var state = value.substring(0, c);
  var epoch = value.substring(c + 1);
  // A value we cannot read is treated as gone: fail closed.
  if (state !== 'public' && state !== 'private' && state !== 'gone') return gone;
  // Epochs are at most 10 digits, as in tokens: a longer one is not ours.
  if (!isDigits(epoch, 10)) return gone;
  return { state: state, epoch: epoch };
}

// Whether the token opens this private session now.
async function tokenGrants(token, p, st) {
  var parts = token.split('.');
  if (parts.length !== 3) return false;
  var expires = parts[0];
  var epoch = parts[1];
  if (!isDigits(expires, 12) || !isDigits(epoch, 10)) return false;
  // A new epoch (set on every visibility change) revokes older links.
  if (canon(epoch) !== canon(st.epoch)) return false;
  if (parseInt(expires, 10) < nowSeconds()) return false;
  var key;
  try {
    key = await kvs.get('playback-key');
  } catch (e) {
    return false;
  }
  if (typeof key !== 'string' || key === '') return false;
  // The message uses the token's own digits, so a signature binds them exactly.
  var msg = 'skycast-media-v1\n' + p.stream + '\n' + p.session + '\n' + expires + '\n' + epoch;
  var want = crypto.createHmac('sha256', key).update(msg).digest('base64url');
  return sameString(want, parts[2]);
}

async function handler(event) {
  try {
    var request = event.request;
    var p = parse(request.uri);
    if (p === null) return refuse();
    // The session's own entry decides; without one, its stream's (a stream
    // made private or deleted covers its older sessions too); without
    // either, the media is public.
    var st = await accessState(p.session);
    if (st !== null && st.state === 'absent') st = await accessState(p.stream);
    if (st === null) return refuse();
    if (st.state === 'absent') st = { state: 'public', epoch: '0' };
    var allowed = st.state === 'public';
    if (st.state === 'private' && p.token !== null) {
      allowed = await tokenGrants(p.token, p, st);
    }
    if (!allowed) return refuse();
    // Only the path changes; the query string and headers pass untouched.
    request.uri = p.media;
    return request;
  } catch (e) {
    // A thrown error would be a 503 from CloudFront; refuse instead.
    return refuse();
  }
}
