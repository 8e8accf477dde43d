import { useEffect, useRef, useState } from "preact/hooks";
import { api, type Stream } from "../api";
import { bitrate } from "../format";
import { Player } from "../player/Player";
import { NotFound } from "./NotFound";
import { useFetch } from "./useFetch";

export function LivePage({ id }: { id: string }) {
  // The stream is read again every 5 s: status, viewers, a fresh private link.
  const s = useFetch(() => api<Stream>("GET", `/streams/${encodeURIComponent(id)}`), [id], 5_000);
  const src = useStableSrc(s.data?.hls_url ?? null);
  const [watching, setWatching] = useState(false);
  const viewers = useViewerCount(id, watching && s.data?.status === "live", s.data?.viewer_count ?? null);
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
      <Player src={src ?? ""} live lowLatency={st.latency === "low"} message={message} poster={st.thumbnail_url} onStarted={() => setWatching(true)} />
      <div class="watch-info">
        <h1>
          {st.status === "live" && <span class="badge live inline">LIVE</span>} {st.title}
        </h1>
        <p class="muted">
          <a href={`/u/${st.owner.id}`}>{st.owner.username}</a>
          {st.status === "live" && viewers != null && <span data-testid="viewer-count"> · {viewers} watching</span>}
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

/** This tab's viewer id: random, kept for the tab's life. */
function tabViewerId(): string {
  const KEY = "skycast.viewer_id";
  let id = sessionStorage.getItem(KEY);
  if (!id) {
    id = crypto.randomUUID();
    sessionStorage.setItem(KEY, id);
  }
  return id;
}

/** While this tab plays a live stream it reports every 15 s; the count shown
 * is the newest of its own report's answer and the stream's polled figure. */
function useViewerCount(streamId: string, watching: boolean, polled: number | null): number | null {
  const [count, setCount] = useState<number | null>(polled);
  useEffect(() => setCount(polled), [polled]);
  useEffect(() => {
    if (!watching) return;
    const beat = () =>
      api<{ viewer_count: number }>("POST", `/streams/${encodeURIComponent(streamId)}/viewers`, {
        viewer_id: tabViewerId(),
      }).then(
        (r) => setCount(r.viewer_count),
        () => undefined,
      );
    void beat();
    const timer = window.setInterval(beat, 15_000);
    return () => window.clearInterval(timer);
  }, [streamId, watching]);
  return count;
}
