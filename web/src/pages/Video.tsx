import { useState } from "preact/hooks";
import { api, ApiError, query, type Page, type Video } from "../api";
import { useUser } from "../App";
import { ago, count } from "../format";
import { navigate } from "../router";
import { Player } from "../player/Player";
import { Grid, VideoCard } from "./Cards";
import { NotFound } from "./NotFound";
import { useFetch } from "./useFetch";

export function VideoPage({ id }: { id: string }) {
  const user = useUser();
  const v = useFetch(() => api<Video>("GET", `/videos/${encodeURIComponent(id)}`), [id, user?.id]);
  const ownerId = v.data?.owner.id;
  const more = useFetch(
    () =>
      ownerId ? api<Page<Video>>("GET", `/videos${query({ owner: ownerId, limit: 8 })}`) : Promise.resolve(null),
    [ownerId],
  );
  const [like, setLike] = useState<{ liked: boolean; like_count: number } | null>(null);
  const [error, setError] = useState<string | null>(null);
  if (v.error?.status === 404) return <NotFound what="video" />;
  const video = v.data;
  if (!video) return <p class="muted">{v.error ? v.error.message : "Loading…"}</p>;
  const liked = like?.liked ?? video.liked ?? false;
  const likes = like?.like_count ?? video.like_count;
  const toggleLike = async () => {
    if (!user) return navigate("/login");
    try {
      setLike(await api(liked ? "DELETE" : "PUT", `/videos/${video.id}/like`));
    } catch (e) {
      setError(e instanceof ApiError ? e.message : String(e));
    }
  };
  // One view per viewing: counted when the picture first moves (the API
  // also counts a viewer once per half hour).
  const counted = () => void api("POST", `/videos/${video.id}/views`).catch(() => undefined);
  const src = video.hls_url ?? video.mp4_url;
  return (
    <article class="watch">
      {src ? (
        <Player src={src} live={false} poster={video.thumbnail_url} onStarted={counted} autoPlay />
      ) : (
        <div class="player">
          <div class="player-message">This video is not ready yet.</div>
        </div>
      )}
      <div class="watch-info">
        <h1>{video.title}</h1>
        <p class="muted">
          <a href={`/u/${video.owner.id}`}>{video.owner.username}</a> ·{" "}
          <span data-testid="view-count">{count(video.view_count, "view", "views")}</span> · {ago(video.created_at)}
          {video.visibility === "private" && <span class="badge inline">private</span>}
        </p>
        <button type="button" class={liked ? "like liked" : "like"} aria-pressed={liked} onClick={toggleLike} data-testid="like">
          ♥ {likes}
        </button>
        {error && <p class="error">{error}</p>}
        {video.tags.length > 0 && (
          <p class="tags">
            {video.tags.map((t) => (
              <a href={`/?tag=${encodeURIComponent(t)}`} key={t} class="tag">
                #{t}
              </a>
            ))}
          </p>
        )}
        {video.description && <p class="description">{video.description}</p>}
      </div>
      {more.data && more.data.items.filter((x) => x.id !== video.id).length > 0 && (
        <section aria-labelledby="more">
          <h2 id="more">More from {video.owner.username}</h2>
          <Grid label="More videos">
            {more.data.items.filter((x) => x.id !== video.id).map((x) => <VideoCard v={x} key={x.id} />)}
          </Grid>
        </section>
      )}
    </article>
  );
}
