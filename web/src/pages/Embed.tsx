import { Player } from "../player/Player";

/** The player alone, for any HLS URL (`/embed?src=…&live=1`, `&latency=low`
 * for a low-latency stream): for pages that embed a stream, and for measuring
 * the player against other origins. */
export function Embed({ src, live, lowLatency }: { src: string; live: boolean; lowLatency: boolean }) {
  let ok = false;
  try {
    ok = ["http:", "https:"].includes(new URL(src).protocol);
  } catch {
    ok = false;
  }
  return ok ? <Player src={src} live={live} lowLatency={lowLatency} /> : <p class="error">Give an http(s) HLS URL as ?src=</p>;
}
