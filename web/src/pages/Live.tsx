import { useRef } from "preact/hooks";
import { api, type Stream } from "../api";
import { bitrate } from "../format";
import { Player } from "../player/Player";
import { NotFound } from "./NotFound";
import { useFetch } from "./useFetch";

export function LivePage({ id }: { id: string }) {
  // The stream is read again every 5 s: status, viewers, a fresh private link.
  const s = useFetch(() => api<Stream>("GET", `/streams/${encodeURIComponent(id)}`), [id], 5_000);
  const src = useStableSrc(s.data?.hls_url ?? null);
  if (s.error?.status === 404) return <NotFound what="stream" />;
  const st = s.data;
  if (!st) return <p class="muted">{s.error ? s.error.message : "Loading…"}</p>;
  const message =
    st.status === "ended"
      ? "This stream has ended."
      : st.status !== "live" || !st.hls_url
        ? "This stream is offline. It starts when the streamer goes live."
        : null;
  return (
    <article class="watch">
      <Player src={src ?? ""} live message={message} poster={st.thumbnail_url} />
      <div class="watch-info">
        <h1>
          {st.status === "live" && <span class="badge live inline">LIVE</span>} {st.title}
        </h1>
        <p class="muted">
          <a href={`/u/${st.owner.id}`}>{st.owner.username}</a>
          {st.viewer_count != null && <span data-testid="viewer-count"> · {st.viewer_count} watching</span>}
          {st.status === "live" && <span> · {bitrate(st.bitrate_bps)}</span>}
        </p>
        {st.status === "ended" && st.record && <p>The replay appears in the streamer's videos once it is ready.</p>}
        {st.description && <p class="description">{st.description}</p>}
      </div>
    </article>
  );
}

/** A private stream's link carries a token renewed on every read: the
 * player keeps the link it started with while the session is the same. */
function useStableSrc(url: string | null): string | null {
  const kept = useRef<string | null>(null);
  const withoutToken = (u: string | null) => u?.replace(/\/t\/[^/]+\//, "/") ?? null;
  if (withoutToken(url) !== withoutToken(kept.current)) kept.current = url;
  return kept.current;
}
