import { api, query, type Page, type Stream, type Video } from "../api";
import { Grid, StreamCard, VideoCard } from "./Cards";
import { useFetch } from "./useFetch";

export function Home({ q, tag }: { q: string; tag: string }) {
  const live = useFetch(() => api<Page<Stream>>("GET", `/streams${query({ status: "live", limit: 24 })}`), [], 10_000);
  const searching = Boolean(q || tag);
  const recent = useFetch(
    () => api<Page<Video>>("GET", `/videos${query({ q, tag, sort: "recent", limit: 24 })}`),
    [q, tag],
  );
  const popular = useFetch(() => api<Page<Video>>("GET", `/videos${query({ sort: "popular", limit: 12 })}`), []);
  return (
    <div class="home">
      {!searching && (
        <section aria-labelledby="live-now">
          <h2 id="live-now">Live now</h2>
          {live.data?.items.length ? (
            <Grid label="Live streams">{live.data.items.map((s) => <StreamCard s={s} key={s.id} />)}</Grid>
          ) : (
            <p class="muted">{live.loading ? "Loading…" : "Nobody is live right now."}</p>
          )}
        </section>
      )}
      <section aria-labelledby="recent">
        <h2 id="recent">{searching ? `Videos matching “${q || `#${tag}`}”` : "Recent videos"}</h2>
        {recent.error && <p class="error">{recent.error.message}</p>}
        {recent.data?.items.length ? (
          <Grid label="Videos">{recent.data.items.map((v) => <VideoCard v={v} key={v.id} />)}</Grid>
        ) : (
          <p class="muted">{recent.loading ? "Loading…" : "No videos yet."}</p>
        )}
      </section>
      {!searching && popular.data?.items.length ? (
        <section aria-labelledby="popular">
          <h2 id="popular">Popular</h2>
          <Grid label="Popular videos">{popular.data.items.map((v) => <VideoCard v={v} key={v.id} />)}</Grid>
        </section>
      ) : null}
    </div>
  );
}
