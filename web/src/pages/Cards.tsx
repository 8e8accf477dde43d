import type { Stream, Video } from "../api";
import { ago, count, duration } from "../format";

export function StreamCard({ s }: { s: Stream }) {
  return (
    <a class="card" href={`/live/${s.id}`} data-testid="live-card">
      <div class="thumb">
        {s.thumbnail_url ? <img src={s.thumbnail_url} alt="" loading="lazy" /> : <div class="no-thumb" />}
        <span class="badge live">LIVE</span>
        {s.viewer_count != null && <span class="badge count">{count(s.viewer_count, "viewer", "viewers")}</span>}
      </div>
      <div class="card-title">{s.title}</div>
      <div class="card-meta">{s.owner.username}</div>
    </a>
  );
}

export function VideoCard({ v }: { v: Video }) {
  return (
    <a class="card" href={`/watch/${v.id}`} data-testid="video-card">
      <div class="thumb">
        {v.thumbnail_url ? <img src={v.thumbnail_url} alt="" loading="lazy" /> : <div class="no-thumb" />}
        {v.duration_s != null && <span class="badge count">{duration(v.duration_s)}</span>}
      </div>
      <div class="card-title">{v.title}</div>
      <div class="card-meta">
        {v.owner.username} · {count(v.view_count, "view", "views")} · {ago(v.created_at)}
      </div>
    </a>
  );
}

export function Grid({ children, label }: { children: preact.ComponentChildren; label: string }) {
  return (
    <ul class="grid" aria-label={label}>
      {Array.isArray(children) ? children.map((c, i) => <li key={i}>{c}</li>) : <li>{children}</li>}
    </ul>
  );
}
