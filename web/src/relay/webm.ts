// Just enough WebM (EBML) for the session relay: where a MediaRecorder's
// output stops being its header and starts being media (the first Cluster),
// and which codecs a header names, so an operator can pick the right
// MediaSource type.

/** An EBML document starts with this ID (the EBML header element). */
const EBML_ID = [0x1a, 0x45, 0xdf, 0xa3];
/** A Cluster (a run of media blocks) starts with this ID. */
const CLUSTER_ID = [0x1f, 0x43, 0xb6, 0x75];
/** A Cluster's Timestamp element, which a muxer writes first in it. */
const CLUSTER_TIMESTAMP_ID = 0xe7;

/** Bytes of an EBML variable-length integer, from its first byte (1–8), or 0 (invalid). */
function vintLength(first: number): number {
  for (let i = 0; i < 8; i++) if (first & (0x80 >> i)) return i + 1;
  return 0;
}

/** Whether `bytes` starts an EBML document: a stream header (WebM init segment). */
export function isHeader(bytes: Uint8Array): boolean {
  return bytes.length >= 4 && EBML_ID.every((b, i) => bytes[i] === b);
}

export function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

function concat(a: Uint8Array, b: Uint8Array): Uint8Array {
  if (!a.length) return b;
  const out = new Uint8Array(a.length + b.length);
  out.set(a);
  out.set(b, a.length);
  return out;
}

/** The first Cluster in `b` at or after `from`: its ID, a valid size, then
 * its Timestamp. `found` is its offset, or -1; when -1, `safe` is where a
 * Cluster could still start once more bytes arrive (nothing before it can). */
export function findCluster(b: Uint8Array, from = 0): { found: number; safe: number } {
  for (let i = from; i + 4 <= b.length; i++) {
    if (b[i] !== CLUSTER_ID[0] || b[i + 1] !== CLUSTER_ID[1] || b[i + 2] !== CLUSTER_ID[2] || b[i + 3] !== CLUSTER_ID[3]) continue;
    // Media payload may hold these four bytes by chance: check what follows.
    if (i + 5 > b.length) return { found: -1, safe: i };
    const sizeLength = vintLength(b[i + 4]);
    if (!sizeLength) continue;
    if (i + 4 + sizeLength + 1 > b.length) return { found: -1, safe: i };
    if (b[i + 4 + sizeLength] === CLUSTER_TIMESTAMP_ID) return { found: i, safe: i };
  }
  return { found: -1, safe: Math.max(from, b.length - 3) };
}

/** Watches a byte stream, split anywhere, for its first Cluster. */
export class ClusterFinder {
  private pending: Uint8Array = new Uint8Array(0);
  /** Where in `pending` a Cluster may still start. */
  private scanFrom = 0;
  /** Bytes looked at so far. */
  seen = 0;

  /** `keepBefore`: keep the bytes before the Cluster (a header being split
   * off); otherwise only the few that might start one are kept. */
  constructor(private keepBefore: boolean) {}

  /** The next bytes. Once the Cluster is found: the bytes before it (when
   * kept) and the bytes from it on; until then null. */
  push(chunk: Uint8Array): { before: Uint8Array; rest: Uint8Array } | null {
    this.seen += chunk.length;
    const b = concat(this.pending, chunk);
    const { found, safe } = findCluster(b, this.scanFrom);
    if (found >= 0) {
      this.pending = new Uint8Array(0);
      this.scanFrom = 0;
      return { before: b.subarray(0, found), rest: b.subarray(found) };
    }
    this.pending = this.keepBefore ? b : b.slice(safe);
    this.scanFrom = this.keepBefore ? safe : 0;
    return null;
  }
}

interface Element {
  id: number;
  /** Where its data starts and ends (the end of `b` for an unknown size). */
  start: number;
  end: number;
}

/** The element at `at`, or null where the bytes are not one. */
function readElement(b: Uint8Array, at: number, limit: number): Element | null {
  const idLength = vintLength(b[at] ?? 0);
  if (!idLength || idLength > 4 || at + idLength >= limit) return null;
  let id = 0;
  for (let i = 0; i < idLength; i++) id = id * 256 + b[at + i];
  const sizeAt = at + idLength;
  const sizeLength = vintLength(b[sizeAt]);
  if (!sizeLength || sizeAt + sizeLength > limit) return null;
  let size = b[sizeAt] & (0xff >> sizeLength);
  let unknown = size === 0xff >> sizeLength;
  for (let i = 1; i < sizeLength; i++) {
    size = size * 256 + b[sizeAt + i];
    unknown &&= b[sizeAt + i] === 0xff;
  }
  const start = sizeAt + sizeLength;
  return { id, start, end: unknown ? limit : Math.min(limit, start + size) };
}

const SEGMENT = 0x18538067;
const TRACKS = 0x1654ae6b;
const TRACK_ENTRY = 0xae;
const CODEC_ID = 0x86;

/** The CodecIDs of a header's tracks (V_VP8, A_OPUS…), in order. */
export function codecIds(header: Uint8Array): string[] {
  const out: string[] = [];
  const walk = (from: number, to: number) => {
    let at = from;
    while (at < to) {
      const e = readElement(header, at, to);
      if (!e) return;
      if (e.id === SEGMENT || e.id === TRACKS || e.id === TRACK_ENTRY) walk(e.start, e.end);
      else if (e.id === CODEC_ID) out.push(new TextDecoder().decode(header.subarray(e.start, e.end)).replace(/\0+$/, ""));
      at = e.end;
    }
  };
  walk(0, header.length);
  return out;
}

const CODECS: Record<string, string> = {
  V_VP8: "vp8",
  V_VP9: "vp9",
  V_AV1: "av01.0.08M.08",
  "V_MPEG4/ISO/AVC": "avc1.42E01E",
  A_OPUS: "opus",
  A_VORBIS: "vorbis",
};

/** The MediaSource type for a header: `video/webm; codecs="vp8,opus"` and the like. */
export function mimeOf(header: Uint8Array, fallback = 'video/webm; codecs="vp8,opus"'): string {
  const ids = codecIds(header);
  const codecs = ids.map((c) => CODECS[c]).filter(Boolean);
  if (!codecs.length || codecs.length < ids.length) return fallback;
  const video = ids.some((c) => c.startsWith("V_"));
  return `${video ? "video" : "audio"}/webm; codecs="${codecs.join(",")}"`;
}
