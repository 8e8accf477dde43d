// The operator's player: the client's WebM, message by message, into a
// MediaSource, kept close to the newest media.
//
// A binary message that starts an EBML document is the stream header; the
// rest is media. An operator who joins late gets the header first, then
// media from wherever the client is, likely inside a Cluster: bytes are
// dropped until the next Cluster starts, and appended from there on. The
// same header again means the client came back after a drop: the parser is
// reset and media resumes at the next Cluster. A different header is a new
// stream: a new MediaSource.
import { ClusterFinder, isHeader, mimeOf, sameBytes } from "./webm";

/** Further behind the newest media than this (s): jump forward… */
const MAX_LAG_S = 2;
/** …to this far behind it. */
const TARGET_LAG_S = 0.5;
/** Media kept behind the playhead once trimmed (s), and how much more may gather first. */
const KEEP_BEHIND_S = 10;
const TRIM_SLACK_S = 20;
/** Media waiting to be appended beyond this (bytes): the player starts over at the next Cluster. */
const MAX_QUEUED_BYTES = 32 * 1024 * 1024;
/** Decoding errors the player recovers from (a new MediaSource) before giving up. */
const MAX_RECOVERIES = 3;

export interface PlayerEvents {
  /** The first frame is on screen (once). */
  firstFrame?: () => void;
  error?: (message: string) => void;
}

interface Append {
  bytes: Uint8Array;
  /** Reset the parser first (the stream resumed after a gap). */
  reset?: boolean;
}

export class RelayPlayer {
  private ms: MediaSource | null = null;
  private sb: SourceBuffer | null = null;
  private header: Uint8Array | null = null;
  private mime = "";
  private queue: Append[] = [];
  private queued = 0;
  /** Set while media is skipped up to the next Cluster. */
  private finder: ClusterFinder | null = null;
  private trimTo = 0;
  private started = false;
  private shown = false;
  private recoveries = 0;
  private timer: number;
  private disposed = false;
  /** When media was last appended (performance.now()), 0 before. */
  lastMediaAt = 0;
  /** Bytes skipped while waiting for a Cluster (or a header). */
  skipped = 0;

  constructor(
    private video: HTMLVideoElement,
    private on: PlayerEvents = {},
  ) {
    this.timer = window.setInterval(() => this.follow(), 500);
    video.addEventListener("error", this.onVideoError);
  }

  /** Seconds between the playhead and the newest media (null before any). */
  get lag(): number | null {
    const b = this.video.buffered;
    return b.length ? Math.max(0, b.end(b.length - 1) - this.video.currentTime) : null;
  }

  /** A binary message from the relay. */
  push(data: ArrayBuffer) {
    if (this.disposed) return;
    let bytes: Uint8Array = new Uint8Array(data);
    if (isHeader(bytes)) return this.onHeader(bytes);
    if (!this.header) {
      this.skipped += bytes.length;
      return;
    }
    if (this.finder) {
      const found = this.finder.push(bytes);
      if (!found) {
        this.skipped += bytes.length;
        return;
      }
      this.skipped += bytes.length - found.rest.length;
      this.finder = null;
      bytes = found.rest;
    }
    this.enqueue({ bytes });
  }

  /** The stream is over: play out what is buffered. */
  end() {
    this.finder = new ClusterFinder(false);
    this.queue = [];
    const ms = this.ms;
    if (ms && ms.readyState === "open" && this.sb && !this.sb.updating) {
      try {
        ms.endOfStream();
      } catch {
        // Nothing to play out.
      }
    }
  }

  destroy() {
    this.disposed = true;
    window.clearInterval(this.timer);
    this.video.removeEventListener("error", this.onVideoError);
    this.detach();
  }

  private onHeader(header: Uint8Array) {
    const same = this.header !== null && sameBytes(header, this.header);
    this.header = header;
    this.finder = new ClusterFinder(false);
    if (same && this.sb) {
      // The client resumed after a gap: what is queued ends mid-Cluster.
      this.queue = [];
      this.queued = 0;
      this.enqueue({ bytes: header, reset: true });
      return;
    }
    this.attach(mimeOf(header));
  }

  /** A new MediaSource for the current header. */
  private attach(mime: string) {
    this.detach();
    if (!window.MediaSource || !MediaSource.isTypeSupported(mime)) {
      this.on.error?.(`This browser cannot play the client's stream (${mime}).`);
      return;
    }
    this.mime = mime;
    this.started = false;
    this.queue = [];
    this.queued = 0;
    if (this.header) this.enqueue({ bytes: this.header });
    const ms = new MediaSource();
    this.ms = ms;
    const url = URL.createObjectURL(ms);
    ms.addEventListener(
      "sourceopen",
      () => {
        URL.revokeObjectURL(url);
        if (ms !== this.ms) return;
        try {
          this.sb = ms.addSourceBuffer(mime);
        } catch (e) {
          this.on.error?.(`This browser cannot play the client's stream (${mime}): ${String(e)}`);
          return;
        }
        this.sb.addEventListener("updateend", () => {
          this.follow();
          this.pump();
        });
        this.pump();
      },
      { once: true },
    );
    this.video.src = url;
  }

  private detach() {
    this.ms = null;
    this.sb = null;
    if (this.video.getAttribute("src")) {
      this.video.removeAttribute("src");
      this.video.load();
    }
  }

  private enqueue(a: Append) {
    this.queue.push(a);
    this.queued += a.bytes.length;
    if (this.queued > MAX_QUEUED_BYTES && this.header) {
      // Appends cannot keep up: start over from the next Cluster.
      this.queue = [];
      this.queued = 0;
      this.finder = new ClusterFinder(false);
      this.enqueue({ bytes: this.header, reset: true });
      return;
    }
    this.pump();
  }

  /** The next append or removal, when the SourceBuffer is free. */
  private pump() {
    const ms = this.ms;
    const sb = this.sb;
    if (!ms || !sb || ms.readyState !== "open" || sb.updating) return;
    if (this.trimTo > 0) {
      const to = this.trimTo;
      this.trimTo = 0;
      try {
        sb.remove(0, to);
        return;
      } catch {
        // Appends go on; trimming is tried again later.
      }
    }
    const next = this.queue.shift();
    if (!next) return;
    this.queued -= next.bytes.length;
    try {
      if (next.reset) sb.abort();
      sb.appendBuffer(next.bytes as Uint8Array<ArrayBuffer>);
      if (!next.reset && next.bytes !== this.header) this.lastMediaAt = performance.now();
    } catch (e) {
      if (e instanceof DOMException && e.name === "QuotaExceededError") {
        this.queue.unshift(next);
        this.queued += next.bytes.length;
        const t = this.video.currentTime - 1;
        const b = sb.buffered;
        if (b.length && t > b.start(0) + 0.5) {
          this.trimTo = t;
          this.pump();
        } else if (this.header) {
          // Nothing behind the playhead to free: skip ahead.
          this.queue = [];
          this.queued = 0;
          this.finder = new ClusterFinder(false);
          this.enqueue({ bytes: this.header, reset: true });
        }
        return;
      }
      this.on.error?.(`The stream could not be played: ${String(e)}`);
    }
  }

  /** Start playing at the first media; keep near the newest; trim what is past. */
  private follow() {
    const v = this.video;
    const b = v.buffered;
    if (this.disposed || !b.length || !this.sb) return;
    const start = b.start(b.length - 1);
    const end = b.end(b.length - 1);
    if (!this.started) {
      this.started = true;
      v.currentTime = start;
      this.play();
      return;
    }
    const t = v.currentTime;
    if (t < start || end - t > MAX_LAG_S) v.currentTime = Math.max(start, end - TARGET_LAG_S);
    if (t - b.start(0) > KEEP_BEHIND_S + TRIM_SLACK_S) {
      this.trimTo = t - KEEP_BEHIND_S;
      this.pump();
    }
    if (v.paused && !v.ended && this.shown) void v.play().catch(() => undefined);
  }

  private play() {
    const v = this.video;
    const shown = () => {
      if (this.shown) return;
      this.shown = true;
      this.on.firstFrame?.();
    };
    if ("requestVideoFrameCallback" in HTMLVideoElement.prototype) v.requestVideoFrameCallback(shown);
    else v.addEventListener("playing", shown, { once: true });
    v.play().catch(() => {
      // Autoplay with sound refused: muted, then (an unmute button is offered).
      v.muted = true;
      v.play().catch(() => undefined);
    });
  }

  private onVideoError = () => {
    if (this.disposed || !this.header) return;
    const error = this.video.error;
    if (this.recoveries >= MAX_RECOVERIES) {
      this.on.error?.(`The stream could not be played${error?.message ? `: ${error.message}` : "."}`);
      return;
    }
    // A decoding error (say a false Cluster start): again from the next Cluster.
    this.recoveries += 1;
    this.finder = new ClusterFinder(false);
    this.attach(this.mime);
  };
}
