// Parses each playlist given with hls-parser in strict mode, which throws on
// anything RFC 8216 forbids; prints what it found, exits non-zero on the first
// violation. Used by ingest-node/tests/publish.rs on the node's own playlists.
import { readFileSync } from 'node:fs';
import HLS from 'hls-parser';

HLS.setOptions({ strictMode: true });
let failed = false;
for (const file of process.argv.slice(2)) {
  try {
    const p = HLS.parse(readFileSync(file, 'utf8'));
    const kind = p.isMasterPlaylist ? `master, ${p.variants.length} variants` : `media, ${p.segments.length} segments`;
    console.log(`${file}: ok (${kind})`);
  } catch (e) {
    console.error(`${file}: ${e.message}`);
    failed = true;
  }
}
process.exit(failed ? 1 : 0);
