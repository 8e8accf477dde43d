import type { ComponentChildren } from "preact";
import { useState } from "preact/hooks";
import { api, ApiError, type Latency, type Page, type Stream, type StreamHealth } from "../api";
import { useUser } from "../App";
import { bitrate, codecName, duration, every, fps, resolution } from "../format";
import { navigate, useLocation } from "../router";
import { useFetch } from "./useFetch";

function Copy({ text, label }: { text: string; label: string }) {
  const [done, setDone] = useState(false);
  return (
    <button
      type="button"
      class="small"
      aria-label={`Copy ${label}`}
      onClick={() =>
        void navigator.clipboard?.writeText(text).then(() => {
          setDone(true);
          window.setTimeout(() => setDone(false), 1500);
        })
      }
    >
      {done ? "Copied" : "Copy"}
    </button>
  );
}

function Field({ label, value, secret, testid }: { label: string; value: string; secret?: boolean; testid: string }) {
  const [shown, setShown] = useState(!secret);
  const id = `f-${testid}`;
  return (
    <div class="field">
      <label for={id}>{label}</label>
      <div class="field-row">
        <input id={id} readOnly value={shown ? value : "•".repeat(24)} data-testid={testid} data-value={shown ? value : ""} />
        {secret && (
          <button type="button" class="small" onClick={() => setShown(!shown)} aria-pressed={shown}>
            {shown ? "Hide" : "Show"}
          </button>
        )}
        <Copy text={value} label={label} />
      </div>
    </div>
  );
}

const LATENCY_HELP: Record<Latency, string> = {
  standard: "Standard: about 5 s behind",
  low: "Low: about 3 s behind, 1 s keyframes",
};

function LatencySelect({ value, onChange }: { value: Latency; onChange: (l: Latency) => void }) {
  return (
    <label>
      Latency
      <select value={value} onChange={(e) => onChange((e.target as HTMLSelectElement).value as Latency)} data-testid="latency">
        <option value="standard">{LATENCY_HELP.standard}</option>
        <option value="low">{LATENCY_HELP.low}</option>
      </select>
    </label>
  );
}

interface StreamFieldsProps {
  title: string;
  setTitle: (t: string) => void;
  visibility: string;
  setVisibility: (v: string) => void;
  latency: Latency;
  setLatency: (l: Latency) => void;
  record: boolean;
  setRecord: (r: boolean) => void;
  /** Fields of the form's own, between visibility and latency. */
  children?: ComponentChildren;
}

/** The fields a stream is created and edited with. */
function StreamFields(p: StreamFieldsProps) {
  return (
    <>
      <label>
        Title
        <input name="title" required maxLength={200} value={p.title} onInput={(e) => p.setTitle((e.target as HTMLInputElement).value)} />
      </label>
      <label>
        Visibility
        <select value={p.visibility} onChange={(e) => p.setVisibility((e.target as HTMLSelectElement).value)}>
          <option value="public">Public</option>
          <option value="private">Private (only you)</option>
        </select>
      </label>
      {p.children}
      <LatencySelect value={p.latency} onChange={p.setLatency} />
      <label class="check">
        <input type="checkbox" checked={p.record} onChange={(e) => p.setRecord((e.target as HTMLInputElement).checked)} />{" "}
        Keep a recording as a video
      </label>
    </>
  );
}

/** Edit a stream: what it is called, who sees it, and how it is made. */
function StreamSettings({ st, onSaved }: { st: Stream; onSaved: () => void }) {
  const [title, setTitle] = useState(st.title);
  const [visibility, setVisibility] = useState<string>(st.visibility);
  const [record, setRecord] = useState(st.record);
  const [profile, setProfile] = useState<string>(st.profile);
  const [latency, setLatency] = useState<Latency>(st.latency);
  const [note, setNote] = useState<{ error: boolean; text: string } | null>(null);
  const onAir = st.status === "waiting" || st.status === "live";
  const submit = async (e: Event) => {
    e.preventDefault();
    setNote(null);
    try {
      await api("PATCH", `/streams/${st.id}`, { title, visibility, record, profile, latency });
      setNote({ error: false, text: onAir ? "Saved. Profile and latency apply from the next session." : "Saved." });
      onSaved();
    } catch (err) {
      setNote({ error: true, text: err instanceof ApiError ? err.message : String(err) });
    }
  };
  return (
    <details class="settings">
      <summary>Edit stream</summary>
      <form onSubmit={submit} aria-label="Stream settings">
        <StreamFields {...{ title, setTitle, visibility, setVisibility, latency, setLatency, record, setRecord }}>
          <label>
            Quality
            <select value={profile} onChange={(e) => setProfile((e.target as HTMLSelectElement).value)}>
              <option value="ladder">Adaptive: your stream + 480p + 360p</option>
              <option value="source">Source only (your stream as sent)</option>
            </select>
          </label>
        </StreamFields>
        {note && (
          <p class={note.error ? "error" : "muted"} role={note.error ? "alert" : "status"}>
            {note.text}
          </p>
        )}
        <button type="submit">Save</button>
      </form>
    </details>
  );
}

/** What the ingest node measures of the live stream (renewed every 10 s),
 * and what to fix. The badge and warnings are a live region: a screen reader
 * hears a new warning; the figures, which change at every reading, are not. */
function HealthPanel({ health: h }: { health: StreamHealth | null | undefined }) {
  const good = h?.status === "good";
  return (
    <section class="stream-health" aria-labelledby="health-title" data-testid="stream-health">
      <h3 id="health-title">Stream health</h3>
      <div class="health-state" role="status" aria-live="polite" aria-atomic="false">
        {h ? (
          <span class={`health-badge ${good ? "good" : "warning"}`} data-testid="health-status">
            {good ? "Good" : "Needs attention"}
          </span>
        ) : (
          <span class="muted">Measuring…</span>
        )}
        {h && h.warnings.length > 0 && (
          <ul class="health-warnings" aria-label="Warnings">
            {h.warnings.map((w) => (
              <li key={w.code}>{w.message.charAt(0).toUpperCase() + w.message.slice(1)}</li>
            ))}
          </ul>
        )}
      </div>
      {h && (
        <>
          <dl class="health-figures">
            <div>
              <dt>Incoming</dt>
              <dd data-testid="health-ingest">{bitrate(h.ingest_bitrate_bps)}</dd>
            </div>
            <div>
              <dt>Frame rate</dt>
              <dd>{fps(h.frame_rate)}</dd>
            </div>
            <div>
              <dt>Keyframes</dt>
              <dd>{every(h.keyframe_interval_s)}</dd>
            </div>
            <div>
              <dt>Resolution</dt>
              <dd>{resolution(h.width, h.height)}</dd>
            </div>
            <div>
              <dt>Video</dt>
              <dd>{h.video_codec ? codecName(h.video_codec) : "none"}</dd>
            </div>
            <div>
              <dt>Audio</dt>
              <dd>{h.audio ? codecName(h.audio_codec) : "none"}</dd>
            </div>
            {h.srt && (
              <>
                <div>
                  <dt>SRT round trip</dt>
                  <dd>{h.srt.rtt_ms < 10 ? h.srt.rtt_ms.toFixed(1) : Math.round(h.srt.rtt_ms)} ms</dd>
                </div>
                <div>
                  <dt>SRT loss</dt>
                  <dd>
                    {h.srt.loss_percent.toFixed(1)} % · {h.srt.retransmits.toLocaleString()} resent
                    {h.srt.dropped > 0 && <> · {h.srt.dropped.toLocaleString()} dropped</>}
                  </dd>
                </div>
                {h.srt.link_bandwidth_bps != null && (
                  <div>
                    <dt>SRT link</dt>
                    <dd>{bitrate(h.srt.link_bandwidth_bps)}</dd>
                  </div>
                )}
              </>
            )}
          </dl>
          <p class="muted health-time">
            Measured at <time dateTime={h.measured_at}>{new Date(h.measured_at).toLocaleTimeString()}</time>
          </p>
        </>
      )}
    </section>
  );
}

function StreamPanel({ id, onChanged }: { id: string; onChanged: () => void }) {
  // Status as it happens: waiting → live → ended (and, while live, the
  // stream's health, which the API renews every 10 s); not while hidden.
  const s = useFetch(() => api<Stream>("GET", `/streams/${id}`), [id], 2_000, true);
  const [error, setError] = useState<string | null>(null);
  const act = async (f: () => Promise<unknown>) => {
    setError(null);
    try {
      await f();
      s.reload();
      onChanged();
    } catch (e) {
      setError(e instanceof ApiError ? e.message : String(e));
    }
  };
  const st = s.data;
  if (!st) return <p class="muted">{s.error?.message ?? "Loading…"}</p>;
  const onAir = st.status === "waiting" || st.status === "live";
  return (
    <section class="panel" aria-labelledby="stream-title">
      <h2 id="stream-title">
        {st.title}{" "}
        <span class={`status ${st.status}`} data-testid="stream-status" role="status">
          {st.status}
        </span>
      </h2>
      <p class="muted">
        {st.visibility} · {st.profile === "ladder" ? "adaptive (source + 480p + 360p)" : "source only"} ·{" "}
        {st.latency === "low" ? "low latency" : "standard latency"} · {st.record ? "recorded" : "not recorded"} ·{" "}
        <a href={`/live/${st.id}`}>viewer page</a>
      </p>
      <StreamSettings key={st.id} st={st} onSaved={() => { s.reload(); onChanged(); }} />
      {st.status === "live" && <HealthPanel health={st.health} />}
      {st.ingest && (
        <div class="obs">
          <h3>OBS settings (Settings → Stream → Service: Custom…)</h3>
          <Field label="Server" value={st.ingest.rtmp.server} testid="obs-server" />
          <Field label="Stream Key" value={st.ingest.rtmp.stream_key} secret testid="obs-key" />
          <p class="muted" data-testid="obs-keyframes">
            Output: Keyframe Interval {st.latency === "low" ? "1 s" : "2 s"}, rate control CBR.
          </p>
          <details>
            <summary>SRT instead</summary>
            <Field label="SRT URL (Server; leave Stream Key empty)" value={st.ingest.srt.url} secret testid="srt-url" />
          </details>
          <button
            type="button"
            class="small"
            disabled={onAir}
            title={onAir ? "Stop the stream before rotating its key" : ""}
            onClick={() =>
              confirm("Rotate the key? Encoders with the old key can no longer connect.") &&
              void act(() => api("POST", `/streams/${st.id}/key`))
            }
          >
            Rotate key
          </button>
        </div>
      )}
      <div class="health" aria-label="Live health">
        {st.thumbnail_url && <img src={st.thumbnail_url} alt="Latest still of the stream" width="192" height="108" />}
        <dl>
          <dt>Bitrate</dt>
          <dd data-testid="health-bitrate">{bitrate(st.bitrate_bps)}</dd>
          <dt>Renditions</dt>
          <dd>{st.renditions.length ? st.renditions.join(", ") : "—"}</dd>
          <dt>Segments</dt>
          <dd>{st.segments ?? "—"}</dd>
          <dt>Duration</dt>
          <dd>{duration(st.duration_s) || "—"}</dd>
        </dl>
      </div>
      {error && (
        <p class="error" role="alert">
          {error}
        </p>
      )}
      <div class="actions">
        {onAir && (
          <button type="button" class="danger" onClick={() => void act(() => api("POST", `/streams/${st.id}/stop`))}>
            Stop stream
          </button>
        )}
        <button
          type="button"
          class="link"
          disabled={onAir}
          onClick={() =>
            confirm(`Delete “${st.title}”? Its videos stay.`) &&
            void act(async () => {
              await api("DELETE", `/streams/${st.id}`);
              navigate("/studio", true);
            })
          }
        >
          Delete stream
        </button>
      </div>
    </section>
  );
}

function CreateStream({ onCreated }: { onCreated: (s: Stream) => void }) {
  const [title, setTitle] = useState("");
  const [visibility, setVisibility] = useState("public");
  const [record, setRecord] = useState(true);
  const [latency, setLatency] = useState<Latency>("standard");
  const [error, setError] = useState<ApiError | null>(null);
  const submit = async (e: Event) => {
    e.preventDefault();
    setError(null);
    try {
      onCreated(await api<Stream>("POST", "/streams", { title, visibility, record, latency }));
      setTitle("");
    } catch (err) {
      setError(err instanceof ApiError ? err : new ApiError(0, "network", String(err)));
    }
  };
  return (
    <form class="panel" onSubmit={submit} aria-labelledby="new-stream">
      <h2 id="new-stream">New stream</h2>
      <StreamFields {...{ title, setTitle, visibility, setVisibility, latency, setLatency, record, setRecord }} />
      {error && (
        <p class="error" role="alert">
          {error.message}
        </p>
      )}
      <button type="submit">Create stream</button>
    </form>
  );
}

export function Studio() {
  const user = useUser();
  const url = useLocation();
  const selected = url.searchParams.get("stream");
  const streams = useFetch(
    () => (user ? api<Page<Stream>>("GET", "/streams?owner=me&limit=100") : Promise.resolve(null)),
    [user?.id],
    10_000,
  );
  if (!user) {
    return (
      <section class="empty">
        <h1>Studio</h1>
        <p>
          <a href="/login">Log in</a> or <a href="/signup">sign up</a> to go live.
        </p>
      </section>
    );
  }
  const current = selected ?? streams.data?.items[0]?.id ?? null;
  return (
    <div class="studio">
      <aside aria-label="Your streams">
        <h1>Studio</h1>
        <ul class="stream-list">
          {streams.data?.items.map((s) => (
            <li key={s.id}>
              <a href={`/studio?stream=${s.id}`} aria-current={s.id === current ? "page" : undefined}>
                <span class={`dot ${s.status}`} aria-hidden="true" /> {s.title}
              </a>
            </li>
          ))}
        </ul>
        <CreateStream
          onCreated={(s) => {
            streams.reload();
            navigate(`/studio?stream=${s.id}`);
          }}
        />
      </aside>
      <div class="studio-main">
        {current ? (
          <StreamPanel id={current} key={current} onChanged={streams.reload} />
        ) : (
          <p class="muted">Create a stream to get your OBS settings.</p>
        )}
      </div>
    </div>
  );
}
