import { useState } from "preact/hooks";
import { api, ApiError, type Page, type Video } from "../api";
import { useUser } from "../App";
import { count, duration } from "../format";
import { useFetch } from "./useFetch";

function VideoEditor({ v, onChanged }: { v: Video; onChanged: () => void }) {
  const [form, setForm] = useState({
    title: v.title,
    description: v.description,
    tags: v.tags.join(", "),
    visibility: v.visibility,
  });
  const [note, setNote] = useState<{ error: boolean; text: string } | null>(null);
  const save = async (e: Event) => {
    e.preventDefault();
    try {
      const tags = form.tags
        .split(",")
        .map((t) => t.trim())
        .filter(Boolean);
      await api("PATCH", `/videos/${v.id}`, { ...form, tags });
      setNote({ error: false, text: "Saved." });
      onChanged();
    } catch (err) {
      setNote({ error: true, text: err instanceof ApiError ? err.message : String(err) });
    }
  };
  const remove = async () => {
    if (!confirm(`Delete “${v.title}” for good?`)) return;
    try {
      await api("DELETE", `/videos/${v.id}`);
      onChanged();
    } catch (err) {
      setNote({ error: true, text: err instanceof ApiError ? err.message : String(err) });
    }
  };
  const id = `v-${v.id}`;
  return (
    <form class="panel video-editor" onSubmit={save} aria-label={`Edit ${v.title}`}>
      <a href={`/watch/${v.id}`} class="thumb small">
        {v.thumbnail_url ? <img src={v.thumbnail_url} alt={`Watch ${v.title}`} /> : <div class="no-thumb" />}
      </a>
      <div class="editor-fields">
        <label for={`${id}-title`}>Title</label>
        <input id={`${id}-title`} value={form.title} maxLength={200} required onInput={(e) => setForm({ ...form, title: (e.target as HTMLInputElement).value })} />
        <label for={`${id}-desc`}>Description</label>
        <textarea id={`${id}-desc`} value={form.description} rows={2} onInput={(e) => setForm({ ...form, description: (e.target as HTMLTextAreaElement).value })} />
        <label for={`${id}-tags`}>Tags (comma-separated)</label>
        <input id={`${id}-tags`} value={form.tags} onInput={(e) => setForm({ ...form, tags: (e.target as HTMLInputElement).value })} />
        <label for={`${id}-vis`}>Visibility</label>
        <select id={`${id}-vis`} value={form.visibility} onChange={(e) => setForm({ ...form, visibility: (e.target as HTMLSelectElement).value as Video["visibility"] })}>
          <option value="public">Public</option>
          <option value="private">Private</option>
        </select>
        <p class="muted">
          {duration(v.duration_s)} · {count(v.view_count, "view", "views")} · {count(v.like_count, "like", "likes")}
        </p>
        {note && <p class={note.error ? "error" : "ok"} role="status">{note.text}</p>}
        <div class="actions">
          <button type="submit">Save</button>
          <button type="button" class="link danger" onClick={() => void remove()}>
            Delete
          </button>
        </div>
      </div>
    </form>
  );
}

export function StudioVideos() {
  const user = useUser();
  const videos = useFetch(
    () => (user ? api<Page<Video>>("GET", "/videos?owner=me&limit=100") : Promise.resolve(null)),
    [user?.id],
  );
  if (!user) {
    return (
      <section class="empty">
        <h1>My videos</h1>
        <p>
          <a href="/login">Log in</a> to manage your videos.
        </p>
      </section>
    );
  }
  return (
    <div>
      <h1>My videos</h1>
      {videos.data?.items.length ? (
        videos.data.items.map((v) => <VideoEditor v={v} key={v.id} onChanged={videos.reload} />)
      ) : (
        <p class="muted">{videos.loading ? "Loading…" : "Your recordings appear here when a recorded stream ends."}</p>
      )}
    </div>
  );
}
