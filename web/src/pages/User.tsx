import { api, query, type Page, type Stream, type Video } from "../api";
import { Grid, StreamCard, VideoCard } from "./Cards";
import { useFetch } from "./useFetch";

export function UserPage({ id }: { id: string }) {
  const videos = useFetch(() => api<Page<Video>>("GET", `/videos${query({ owner: id, limit: 48 })}`), [id]);
  const streams = useFetch(() => api<Page<Stream>>("GET", `/streams${query({ owner: id, status: "live" })}`), [id]);
  const name = videos.data?.items[0]?.owner.username ?? streams.data?.items[0]?.owner.username ?? "Channel";
  return (
    <div>
      <h1>{name}</h1>
      {streams.data?.items.length ? (
        <section aria-labelledby="u-live">
          <h2 id="u-live">Live now</h2>
          <Grid label="Live streams">{streams.data.items.map((s) => <StreamCard s={s} key={s.id} />)}</Grid>
        </section>
      ) : null}
      <section aria-labelledby="u-videos">
        <h2 id="u-videos">Videos</h2>
        {videos.data?.items.length ? (
          <Grid label="Videos">{videos.data.items.map((v) => <VideoCard v={v} key={v.id} />)}</Grid>
        ) : (
          <p class="muted">{videos.loading ? "Loading…" : "No videos yet."}</p>
        )}
      </section>
    </div>
  );
}
