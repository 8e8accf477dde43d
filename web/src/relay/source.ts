// The relay's client (the source): camera and microphone through a
// MediaRecorder (WebM), over a WebSocket to the session's operators.
//
// Operators who join late need the stream's header (the WebM init segment:
// EBML header, Segment, Info, Tracks) before any media: the recorder's
// first bytes up to its first Cluster are sent as the header, announced by
// {"skycast":"header"} so the relay keeps it for them. Everything after goes
// as it comes, in order.
import { ClusterFinder } from "./webm";
import { HEADER_CONTROL, SUBPROTOCOL, type Closed } from "./protocol";

/** A chunk from the recorder this often. */
const TIMESLICE_MS = 100;
/** A keyframe at least this often: how long a late operator waits for a picture. */
const KEYFRAME_INTERVAL_MS = 500;
/** A header that has not ended after this much is not a header we know. */
const MAX_HEADER_BYTES = 4 * 1024 * 1024;

export type SourceState = "connecting" | "live" | "reconnecting" | "closed";

export interface SourceEvents {
  state: (s: SourceState, closed?: Closed) => void;
  /** A text message from an operator. */
  text: (text: string) => void;
  /** After each message sent. */
  sent: (messages: number, bytes: number) => void;
  error: (message: string) => void;
}

/** What the recorder makes: VP8 and Opus in WebM where it can. */
export function recorderType(): string {
  const preferred = "video/webm;codecs=vp8,opus";
  return MediaRecorder.isTypeSupported(preferred) ? preferred : "video/webm";
}

export class RelaySource {
  private ws: WebSocket | null = null;
  private recorder: MediaRecorder | null = null;
  private header: Uint8Array | null = null;
  private finder = new ClusterFinder(true);
  /** Chunks are read one after another, so they go out in order. */
  private chain: Promise<void> = Promise.resolve();
  private reconnected = false;
  private stopped = false;
  private retry: number | undefined;
  messages = 0;
  bytes = 0;
  /** Media the socket was not open for (during a reconnect). */
  dropped = 0;

  constructor(
    private stream: MediaStream,
    private url: string,
    private key: string,
    private on: SourceEvents,
  ) {}

  start() {
    this.connect();
  }

  /** Stops recording, the camera and microphone, and the socket. */
  stop() {
    this.stopped = true;
    window.clearTimeout(this.retry);
    if (this.recorder && this.recorder.state !== "inactive") this.recorder.stop();
    this.recorder = null;
    this.stream.getTracks().forEach((t) => t.stop());
    const ws = this.ws;
    if (ws && ws.readyState <= WebSocket.OPEN) ws.close(1000, "client stopped");
  }

  /** How much the socket has yet to send (a slow uplink shows here). */
  get backlog(): number {
    return this.ws?.bufferedAmount ?? 0;
  }

  private connect() {
    this.on.state(this.reconnected ? "reconnecting" : "connecting");
    const ws = new WebSocket(this.url, [SUBPROTOCOL, this.key]);
    ws.binaryType = "arraybuffer";
    this.ws = ws;
    let opened = false;
    ws.onopen = () => {
      opened = true;
      if (this.stopped) return ws.close(1000, "client stopped");
      // Back after a drop: the header again, so the relay surely holds it
      // and operators know to wait for the next Cluster.
      if (this.header) this.sendHeader();
      this.on.state("live");
      if (!this.recorder) this.record();
    };
    ws.onmessage = (e) => {
      if (typeof e.data === "string") this.on.text(e.data);
    };
    ws.onclose = (e) => {
      // Stopped by its owner, who knows; or a socket since replaced.
      if (ws !== this.ws || this.stopped) return;
      if (!this.stopped && e.code === 1006 && opened && !this.reconnected) {
        // The network dropped: one more try, the recorder running on.
        this.reconnected = true;
        this.on.state("reconnecting");
        this.retry = window.setTimeout(() => this.connect(), 1000);
        return;
      }
      this.stop();
      this.on.state("closed", { code: e.code, reason: e.reason, opened });
    };
  }

  private record() {
    // videoKeyFrameIntervalDuration is newer than TypeScript's DOM types.
    const options = { mimeType: recorderType(), videoKeyFrameIntervalDuration: KEYFRAME_INTERVAL_MS } as MediaRecorderOptions;
    let recorder: MediaRecorder;
    try {
      recorder = new MediaRecorder(this.stream, options);
    } catch (e) {
      this.on.error(`This browser cannot record the camera: ${String(e)}`);
      this.stop();
      return;
    }
    recorder.ondataavailable = (e) => {
      const blob = e.data;
      if (!blob.size) return;
      this.chain = this.chain
        .then(async () => this.chunk(new Uint8Array(await blob.arrayBuffer())))
        .catch((err) => this.on.error(String(err)));
    };
    recorder.onerror = () => this.on.error("The recorder stopped with an error.");
    this.recorder = recorder;
    recorder.start(TIMESLICE_MS);
  }

  private chunk(bytes: Uint8Array) {
    if (this.stopped) return;
    if (!this.header) {
      const split = this.finder.push(bytes);
      if (!split) {
        if (this.finder.seen > MAX_HEADER_BYTES) throw new Error("The recorder's output has no media clusters.");
        return;
      }
      this.header = split.before.slice();
      this.sendHeader();
      if (split.rest.length) this.send(split.rest);
      return;
    }
    this.send(bytes);
  }

  private sendHeader() {
    this.send(HEADER_CONTROL);
    if (this.header) this.send(this.header);
  }

  private send(data: string | Uint8Array) {
    const ws = this.ws;
    const size = typeof data === "string" ? new TextEncoder().encode(data).length : data.byteLength;
    if (!ws || ws.readyState !== WebSocket.OPEN) {
      this.dropped += size;
      return;
    }
    ws.send(data);
    this.messages += 1;
    this.bytes += size;
    this.on.sent(this.messages, this.bytes);
  }
}
