// The session relay's operator console (issue 14): the client's camera and
// microphone, live, and a line of text back to the client.
import { useEffect, useRef, useState } from "preact/hooks";
import { accessToken, api, type RelaySession } from "../api";
import { useUser } from "../App";
import { RelayPlayer } from "../relay/player";
import { bytes, explainClose, finishedBy, finishedText, socketUrl, SUBPROTOCOL, type Closed } from "../relay/protocol";
import { NotFound } from "./NotFound";
import { useFetch } from "./useFetch";

/** Media within this long (ms) means the client is sending. */
const RECEIVING_MS = 3_000;
const LOG_LINES = 100;
const MAX_TEXT = 500;

type Conn = { state: "connecting" | "open" } | { state: "closed"; closed: Closed };

interface LogLine {
  id: number;
  at: Date;
  who: "client" | "you" | "info";
  text: string;
}

/** A text message from the client: JSON with a "type" is the app's own
 * information; anything else is the client talking. */
function readText(text: string): Pick<LogLine, "who" | "text"> {
  try {
    const m = JSON.parse(text) as unknown;
    if (m && typeof m === "object" && !Array.isArray(m) && typeof (m as { type?: unknown }).type === "string") {
      const { type, ...rest } = m as Record<string, unknown>;
      if (type === "chat" && typeof rest.text === "string") return { who: "client", text: rest.text.slice(0, MAX_TEXT) };
      if (type === "format" && typeof rest.mime === "string") return { who: "info", text: `Format: ${rest.mime}` };
      return { who: "info", text: `${String(type)}: ${JSON.stringify(rest)}`.slice(0, MAX_TEXT) };
    }
  } catch {
    // Not JSON: the client's words.
  }
  return { who: "client", text: text.slice(0, MAX_TEXT) };
}

export function RelayConsole({ id }: { id: string }) {
  const user = useUser();
  const [done, setDone] = useState(false);
  const s = useFetch(
    () => (user ? api<RelaySession>("GET", `/sessions/${encodeURIComponent(id)}`) : Promise.resolve(null)),
    [id, user?.id, done],
    done ? undefined : 3_000,
  );
  const session = s.data;
  const video = useRef<HTMLVideoElement>(null);
  const player = useRef<RelayPlayer | null>(null);
  const socket = useRef<WebSocket | null>(null);
  const stats = useRef({ messages: 0, bytes: 0, lastAt: 0, firstFrameS: null as number | null });
  const [conn, setConn] = useState<Conn>({ state: "connecting" });
  const [problem, setProblem] = useState<string | null>(null);
  const [muted, setMuted] = useState(true);
  const [log, setLog] = useState<LogLine[]>([]);
  const [draft, setDraft] = useState("");
  const [, setTick] = useState(0);
  /** Connecting again by hand after a close that did not finish the session. */
  const [attempt, setAttempt] = useState(0);
  const lines = useRef(0);
  const add = (who: LogLine["who"], text: string) =>
    setLog((l) => [...l, { id: ++lines.current, at: new Date(), who, text }].slice(-LOG_LINES));

  const closedBy = conn.state === "closed" ? conn.closed : null;
  const finished = session?.status === "finished" || finishedBy(closedBy);
  useEffect(() => setDone(session?.status === "finished"), [session?.status]);

  // Counters and "live" are time-dependent: once a second, while it runs.
  useEffect(() => {
    if (finished) return;
    const timer = window.setInterval(() => setTick((t) => t + 1), 1_000);
    return () => window.clearInterval(timer);
  }, [finished]);

  // The player lives as long as the page (its last picture stays when the session ends).
  const hasVideo = !!session;
  useEffect(() => {
    const v = video.current;
    if (!v) return;
    const p = new RelayPlayer(v, {
      firstFrame: () => {
        stats.current.firstFrameS = performance.now() / 1000;
        setTick((t) => t + 1);
      },
      error: (m) => setProblem(m),
    });
    player.current = p;
    const volume = () => setMuted(v.muted);
    v.addEventListener("volumechange", volume);
    return () => {
      v.removeEventListener("volumechange", volume);
      p.destroy();
      player.current = null;
    };
  }, [hasVideo]);

  // The operator socket, while the session is not finished.
  const wsUrl = session && session.status !== "finished" ? (session.operator_ws_url ?? null) : null;
  useEffect(() => {
    if (!wsUrl) return;
    let disposed = false;
    let retried = false;
    let retry: number | undefined;
    const connect = async () => {
      setConn({ state: "connecting" });
      const token = await accessToken();
      if (disposed) return;
      if (!token) {
        setConn({ state: "closed", closed: { code: 1006, reason: "", opened: false } });
        return;
      }
      const ws = new WebSocket(socketUrl(wsUrl), [SUBPROTOCOL, token]);
      ws.binaryType = "arraybuffer";
      socket.current = ws;
      let opened = false;
      ws.onopen = () => {
        opened = true;
        setConn({ state: "open" });
      };
      ws.onmessage = (e) => {
        if (typeof e.data === "string") {
          const m = readText(e.data);
          add(m.who, m.text);
          return;
        }
        const data = e.data as ArrayBuffer;
        stats.current.messages += 1;
        stats.current.bytes += data.byteLength;
        stats.current.lastAt = performance.now();
        player.current?.push(data);
      };
      ws.onclose = (e) => {
        if (disposed || socket.current !== ws) return;
        if (e.code === 1006 && opened && !retried) {
          // The network dropped: once more (the relay sends the header again).
          retried = true;
          setConn({ state: "connecting" });
          retry = window.setTimeout(() => void connect(), 1_000);
          return;
        }
        const closed = { code: e.code, reason: e.reason, opened };
        setConn({ state: "closed", closed });
        if (finishedBy(closed)) player.current?.end();
        s.reload();
      };
    };
    void connect();
    return () => {
      disposed = true;
      window.clearTimeout(retry);
      const ws = socket.current;
      socket.current = null;
      if (ws && ws.readyState <= WebSocket.OPEN) ws.close(1000, "operator left");
    };
  }, [wsUrl, attempt]);

  useEffect(() => {
    if (session?.status === "finished") player.current?.end();
  }, [session?.status]);

  if (!user) {
    return (
      <section class="empty">
        <h1>Operator console</h1>
        <p>
          <a href="/login">Log in</a> to operate this session.
        </p>
      </section>
    );
  }
  if (s.error?.status === 404) return <NotFound what="session" />;
  if (!session) return <p class="muted">{s.error ? s.error.message : "Loading…"}</p>;

  const now = performance.now();
  const receiving = conn.state === "open" && now - stats.current.lastAt < RECEIVING_MS;
  const shown = stats.current.firstFrameS !== null;
  let status: string;
  let cls = "";
  if (finished) status = finishedText(session.finish_reason ?? (closedBy?.code === 1001 ? "node_shutdown" : null));
  else if (!session.operator_ws_url) {
    status = "You are this session's client, not one of its operators.";
    cls = "failed";
  } else if (closedBy) {
    status = explainClose(closedBy);
    cls = "failed";
  } else if (conn.state === "connecting") status = "Connecting…";
  else if (receiving && shown) {
    status = "Live";
    cls = "live";
  } else if (receiving) {
    status = "Receiving: the picture starts at the next keyframe…";
    cls = "waiting";
  } else {
    status = session.status === "waiting" ? "Waiting for the client to connect…" : "Waiting for the client…";
    cls = "waiting";
  }
  const open = conn.state === "open" && !finished;
  const lag = player.current?.lag;
  const send = (e: Event) => {
    e.preventDefault();
    const text = draft.trim();
    const ws = socket.current;
    if (!text || !ws || ws.readyState !== WebSocket.OPEN) return;
    ws.send(text);
    add("you", text);
    setDraft("");
  };
  return (
    <div class="relay">
      <h1>Operator console</h1>
      <p class="muted">
        Session <span class="mono">{session.session_id}</span>
      </p>
      <div class="relay-layout">
        <section class="panel" aria-labelledby="console-picture">
          <h2 id="console-picture">The client's camera</h2>
          <div class="player relay-video">
            <video ref={video} muted autoPlay playsInline data-testid="console-video" aria-label="The client's camera, live" />
            {!(receiving && shown) && !finished && (
              <p class="player-message relay-placeholder" aria-hidden="true">
                {status}
              </p>
            )}
          </div>
          <p class={`relay-status ${cls}`} role="status" data-testid="console-status">
            {status}
          </p>
          {problem && (
            <p class="error" role="alert">
              {problem}
            </p>
          )}
          <div class="actions">
            <button
              type="button"
              class="small"
              onClick={() => {
                const v = video.current;
                if (!v) return;
                v.muted = !v.muted;
                if (!v.muted && v.paused) void v.play().catch(() => undefined);
              }}
            >
              {muted ? "Unmute" : "Mute"}
            </button>
            {closedBy && !finished && (
              <button type="button" class="small" onClick={() => setAttempt((a) => a + 1)}>
                Connect again
              </button>
            )}
          </div>
        </section>
        <section class="panel" aria-labelledby="console-details">
          <h2 id="console-details">Session</h2>
          <dl class="relay-stats">
            <dt>State</dt>
            <dd>{session.status}</dd>
            <dt>Received</dt>
            <dd data-testid="console-received">
              {stats.current.messages} messages · {bytes(stats.current.bytes)}
            </dd>
            <dt>Behind live</dt>
            <dd>{lag != null && shown && !finished ? `${lag.toFixed(1)} s` : "—"}</dd>
            <dt>First picture</dt>
            <dd>{shown ? `${stats.current.firstFrameS!.toFixed(1)} s after the page opened` : "—"}</dd>
            <dt>Operators</dt>
            <dd>{session.operators.length}</dd>
          </dl>
          <h3 id="console-log-title">Messages</h3>
          <div class="relay-log-box" role="log" aria-labelledby="console-log-title" data-testid="console-log" tabIndex={0}>
            {log.length ? (
              <ol class="relay-log">
                {log.map((l) => (
                  <li key={l.id} class={l.who}>
                    <time class="muted" dateTime={l.at.toISOString()}>
                      {l.at.toLocaleTimeString()}
                    </time>{" "}
                    <strong>{l.who === "you" ? "You" : l.who === "client" ? "Client" : "Info"}:</strong> {l.text}
                  </li>
                ))}
              </ol>
            ) : (
              <p class="muted">None yet.</p>
            )}
          </div>
          <form class="relay-send" onSubmit={send} aria-label="Send to the client">
            <label>
              Message to the client
              <input
                value={draft}
                maxLength={MAX_TEXT}
                disabled={!open}
                onInput={(e) => setDraft((e.target as HTMLInputElement).value)}
              />
            </label>
            <button type="submit" disabled={!open || !draft.trim()}>
              Send
            </button>
          </form>
        </section>
      </div>
    </div>
  );
}
