// The player: hls.js (native HLS where only that exists), ABR with a
// quality menu, DVR over the live window, keyboard shortcuts, and recovery
// from network errors without a reload.
import type Hls from "hls.js";
import type { ErrorData, Level } from "hls.js";
import { useEffect, useRef, useState } from "preact/hooks";
import { duration } from "../format";

export interface PlayerProps {
  src: string;
  live: boolean;
  /** Shown over the picture instead of playing (e.g. "This stream has ended"). */
  message?: string | null;
  autoPlay?: boolean;
  poster?: string | null;
  /** Once, when the picture first moves. */
  onStarted?: () => void;
  /** The stream's latency mode (1 s segments): sit closer to the live edge. */
  lowLatency?: boolean;
}

/** Seconds behind the newest segment's end the player aims for, and beyond
 * which it jumps forward, by latency mode. Standard (2 s segments): 1.5
 * segments, so a segment may arrive a second late without a stall (hls.js's
 * default is three segments, 6 s). Low (1 s segments): 1.5 s. Measured by
 * `make bench` (bench_web), glass-to-glass against FFmpeg's own HLS. */
const LIVE_SYNC = {
  standard: { liveSyncDuration: 3, liveMaxLatencyDuration: 10 },
  low: { liveSyncDuration: 1.5, liveMaxLatencyDuration: 5 },
};

interface Quality {
  index: number;
  height: number;
  bitrate: number;
}

const SEEK_STEP_SHORT = 5;
const SEEK_STEP_LONG = 10;
/** Further behind the live edge than this shows "Go live". */
const BEHIND_LIVE_S = 8;

export function Player({ src, live, message, autoPlay = true, poster, onStarted, lowLatency = false }: PlayerProps) {
  const video = useRef<HTMLVideoElement>(null);
  const box = useRef<HTMLDivElement>(null);
  const hls = useRef<Hls | null>(null);
  const [qualities, setQualities] = useState<Quality[]>([]);
  const [choice, setChoice] = useState(-1);
  const [playing, setPlaying] = useState(false);
  const [muted, setMuted] = useState(false);
  const [time, setTime] = useState({ current: 0, start: 0, end: 0 });
  const [latency, setLatency] = useState<number | null>(null);
  const [problem, setProblem] = useState<string | null>(null);
  const [ended, setEnded] = useState(false);
  const started = useRef(false);
  const onStartedNow = useRef(onStarted);
  onStartedNow.current = onStarted;

  useEffect(() => {
    const v = video.current;
    if (!v || message) return;
    let disposed = false;
    let retries = 0;
    setProblem(null);
    setEnded(false);
    started.current = false;
    (async () => {
      const { default: HlsJs } = await import("hls.js");
      if (disposed) return;
      if (!HlsJs.isSupported()) {
        if (v.canPlayType("application/vnd.apple.mpegurl")) v.src = src;
        else setProblem("This browser cannot play HLS video.");
        return;
      }
      const h = new HlsJs({
        enableWorker: true,
        backBufferLength: live ? 60 : 30,
        capLevelToPlayerSize: false,
        // Live: close to the edge (LIVE_SYNC), and a gentle catch-up (up to
        // 1.1×) when a stall left the viewer further behind.
        ...LIVE_SYNC[lowLatency ? "low" : "standard"],
        maxLiveSyncPlaybackRate: 1.1,
        // Playlists are cacheable for 1 s (so a CDN collapses viewers'
        // requests); the browser must not serve hls.js a copy from its own
        // cache when it reloads sooner, or a new segment is seen up to 1 s late.
        xhrSetup: (xhr: XMLHttpRequest, url: string) => {
          if (/\.m3u8(\?|$)/.test(url)) {
            xhr.open("GET", url, true);
            xhr.setRequestHeader("Cache-Control", "no-cache");
          }
        },
      });
      hls.current = h;
      h.on(HlsJs.Events.MANIFEST_PARSED, (_e, data: { levels: Level[] }) => {
        setQualities(
          data.levels
            .map((l, index) => ({ index, height: l.height, bitrate: l.bitrate }))
            .sort((a, b) => b.height - a.height || b.bitrate - a.bitrate),
        );
        retries = 0;
        setProblem(null);
        if (autoPlay) void v.play().catch(() => undefined);
      });
      h.on(HlsJs.Events.FRAG_LOADED, () => {
        retries = 0;
        setProblem(null);
      });
      h.on(HlsJs.Events.ERROR, (_e, data: ErrorData) => {
        if (!data.fatal) return;
        if (data.type === HlsJs.ErrorTypes.MEDIA_ERROR) {
          h.recoverMediaError();
          return;
        }
        const offline =
          data.details === HlsJs.ErrorDetails.MANIFEST_LOAD_ERROR &&
          (data.response?.code === 404 || data.response?.code === 403);
        if (offline && !started.current) {
          setProblem(live ? "This stream is offline." : "This video is not available.");
          return;
        }
        // Network trouble: try again, backing off, without reloading the page.
        retries += 1;
        setProblem("Connection lost, reconnecting…");
        window.setTimeout(() => !disposed && h.startLoad(), Math.min(8000, 500 * 2 ** retries));
      });
      h.loadSource(src);
      h.attachMedia(v);
    })();
    return () => {
      disposed = true;
      hls.current?.destroy();
      hls.current = null;
      setQualities([]);
    };
  }, [src, message, lowLatency]);

  useEffect(() => {
    const v = video.current;
    if (!v) return;
    const tick = () => {
      const s = v.seekable;
      const start = s.length ? s.start(0) : 0;
      const end = s.length ? s.end(s.length - 1) : v.duration || 0;
      setTime({ current: v.currentTime, start, end: isFinite(end) ? end : 0 });
      const l = hls.current?.latency;
      setLatency(live && l && isFinite(l) ? l : null);
    };
    const onPlaying = () => {
      setPlaying(true);
      if (!started.current && v.currentTime > 0) {
        started.current = true;
        onStartedNow.current?.();
      }
    };
    const onTime = () => {
      tick();
      if (!started.current && v.currentTime > 0 && !v.paused) onPlaying();
    };
    const handlers: [string, () => void][] = [
      ["timeupdate", onTime],
      ["progress", tick],
      ["playing", onPlaying],
      ["pause", () => setPlaying(false)],
      ["volumechange", () => setMuted(v.muted)],
      ["ended", () => setEnded(true)],
    ];
    handlers.forEach(([n, f]) => v.addEventListener(n, f));
    return () => handlers.forEach(([n, f]) => v.removeEventListener(n, f));
  }, [live]);

  const seekTo = (t: number) => {
    const v = video.current;
    if (!v) return;
    v.currentTime = Math.min(Math.max(t, time.start), time.end || t);
  };
  const goLive = () => {
    const v = video.current;
    const edge = hls.current?.liveSyncPosition;
    if (!v) return;
    v.currentTime = edge ?? Math.max(time.start, time.end - 6);
    void v.play().catch(() => undefined);
  };
  const toggle = () => {
    const v = video.current;
    if (!v) return;
    if (v.paused) void v.play().catch(() => undefined);
    else v.pause();
  };
  const fullscreen = () => {
    if (document.fullscreenElement) void document.exitFullscreen();
    else void box.current?.requestFullscreen?.().catch(() => undefined);
  };
  const pick = (index: number) => {
    setChoice(index);
    if (hls.current) hls.current.currentLevel = index; // -1: automatic
  };

  // Keyboard shortcuts, anywhere on the page but in a text field. One
  // listener for the player's life, reading this render's state through a ref.
  const now = useRef({ seekTo, toggle, fullscreen, time });
  now.current = { seekTo, toggle, fullscreen, time };
  useEffect(() => {
    const onKey = (e: KeyboardEvent) => {
      const { seekTo, toggle, fullscreen, time } = now.current;
      const t = e.target as HTMLElement | null;
      if (e.ctrlKey || e.metaKey || e.altKey) return;
      if (t && (t.isContentEditable || ["INPUT", "TEXTAREA", "SELECT"].includes(t.tagName))) return;
      if (t && t.tagName === "BUTTON" && (e.key === " " || e.key === "Enter")) return;
      const v = video.current;
      if (!v) return;
      const k = e.key.toLowerCase();
      let handled = true;
      if (k === " " || k === "k") toggle();
      else if (k === "j") seekTo(v.currentTime - SEEK_STEP_LONG);
      else if (k === "l") seekTo(v.currentTime + SEEK_STEP_LONG);
      else if (e.key === "ArrowLeft") seekTo(v.currentTime - SEEK_STEP_SHORT);
      else if (e.key === "ArrowRight") seekTo(v.currentTime + SEEK_STEP_SHORT);
      else if (k === "f") fullscreen();
      else if (k === "m") v.muted = !v.muted;
      else if (/^[0-9]$/.test(k)) seekTo(time.start + ((time.end - time.start) * Number(k)) / 10);
      else handled = false;
      if (handled) e.preventDefault();
    };
    document.addEventListener("keydown", onKey);
    return () => document.removeEventListener("keydown", onKey);
  }, []);

  const behind = live ? time.end - time.current : 0;
  const atLive = live && behind < BEHIND_LIVE_S;
  const overlay = message ?? problem ?? (ended ? (live ? "This stream has ended." : null) : null);
  const span = Math.max(0, time.end - time.start);

  return (
    <div class="player" ref={box} data-testid="player">
      <video
        ref={video}
        playsInline
        muted={muted}
        poster={poster ?? undefined}
        onClick={toggle}
        aria-label={live ? "Live video" : "Video"}
      />
      {overlay && (
        <div class="player-message" role="status">
          {overlay}
        </div>
      )}
      <div class="controls">
        <button type="button" onClick={toggle} aria-label={playing ? "Pause (k)" : "Play (k)"}>
          <Icon d={playing ? "M8 5v14M16 5v14" : "M7 4l13 8-13 8z"} />
        </button>
        <input
          class="seek"
          type="range"
          aria-label={live ? "Seek within the live window" : "Seek"}
          min={time.start}
          max={time.end || 0}
          step="0.1"
          value={time.current}
          disabled={span <= 0}
          onInput={(e) => seekTo(Number((e.target as HTMLInputElement).value))}
        />
        <span class="time" data-testid="time">
          {live ? (atLive ? "" : `−${duration(behind)}`) : `${duration(time.current)} / ${duration(time.end)}`}
        </span>
        {live && (
          <button
            type="button"
            class={atLive ? "live-pill at-live" : "live-pill"}
            onClick={goLive}
            aria-label={atLive ? "At the live edge" : "Go to live"}
            data-testid="go-live"
          >
            ● LIVE
          </button>
        )}
        {latency != null && (
          <span class="latency" title="Seconds behind the broadcaster" data-testid="latency">
            {latency.toFixed(1)} s
          </span>
        )}
        <select
          aria-label="Quality"
          data-testid="quality"
          value={String(choice)}
          onChange={(e) => pick(Number((e.target as HTMLSelectElement).value))}
        >
          <option value="-1">Auto</option>
          {qualities.map((q) => (
            <option value={String(q.index)} key={q.index}>
              {q.height ? `${q.height}p` : "audio"} · {(q.bitrate / 1e6).toFixed(1)} Mbps
            </option>
          ))}
        </select>
        <button type="button" onClick={() => video.current && (video.current.muted = !muted)} aria-label={muted ? "Unmute (m)" : "Mute (m)"}>
          <Icon d={muted ? "M3 9h4l5-4v14l-5-4H3zM16 9l5 6M21 9l-5 6" : "M3 9h4l5-4v14l-5-4H3zM16 8a5 5 0 0 1 0 8M19 5a9 9 0 0 1 0 14"} />
        </button>
        <button type="button" onClick={fullscreen} aria-label="Full screen (f)">
          <Icon d="M4 9V4h5M15 4h5v5M20 15v5h-5M9 20H4v-5" />
        </button>
      </div>
    </div>
  );
}

/** A line icon (the system's fonts may have no emoji). */
function Icon({ d }: { d: string }) {
  return (
    <svg width="18" height="18" viewBox="0 0 24 24" fill="none" stroke="currentColor" stroke-width="2" stroke-linecap="round" stroke-linejoin="round" aria-hidden="true">
      <path d={d} />
    </svg>
  );
}
