// The session relay's client page (issue 14): the camera and microphone,
// live to the session's operators, who watch in the operator console.
import { useEffect, useRef, useState } from "preact/hooks";
import { api, ApiError, type RelaySession } from "../api";
import { useUser } from "../App";
import { ago } from "../format";
import { bytes, explainClose, finishedBy, finishedText, socketUrl, type Closed } from "../relay/protocol";
import { RelaySource, type SourceState } from "../relay/source";
import { useFetch } from "./useFetch";

type Phase = "idle" | "starting" | SourceState | "finished" | "failed";

interface LogLine {
  id: number;
  at: Date;
  text: string;
}

/** The log keeps this many messages. */
const LOG_LINES = 50;

function errorText(e: unknown): string {
  if (e instanceof ApiError) return e.message;
  if (e instanceof DOMException && e.name === "NotAllowedError") return "the camera or microphone was not allowed.";
  if (e instanceof DOMException && e.name === "NotFoundError") return "no camera or microphone was found.";
  return e instanceof Error ? e.message : String(e);
}

function statusText(phase: Phase, session: RelaySession | null, closed: Closed | null, problem: string | null): string {
  switch (phase) {
    case "idle":
      return "Not started.";
    case "starting":
      return "Starting the camera…";
    case "connecting":
      return "Connecting to the relay…";
    case "reconnecting":
      return "The connection dropped: reconnecting…";
    case "live": {
      const n = session?.operators.length ?? 0;
      return `Live: streaming to the relay · ${n} ${n === 1 ? "operator has" : "operators have"} joined.`;
    }
    case "finished":
      return finishedText(session?.finish_reason);
    case "closed":
      return closed ? explainClose(closed) : "Stopped.";
    case "failed":
      return `${session ? "Stopped" : "Could not start"}: ${problem ?? "unknown error"}`;
  }
}

/** The session as read again, if it is still the one on the page (the stream key is only in the first answer). */
function fresher(old: RelaySession | null, read: RelaySession): RelaySession | null {
  return old?.session_id === read.session_id ? { ...read, stream_key: old.stream_key } : old;
}

export function Relay() {
  const user = useUser();
  const preview = useRef<HTMLVideoElement>(null);
  const source = useRef<RelaySource | null>(null);
  const [phase, setPhase] = useState<Phase>("idle");
  const [session, setSession] = useState<RelaySession | null>(null);
  const [closed, setClosed] = useState<Closed | null>(null);
  const [problem, setProblem] = useState<string | null>(null);
  const [sent, setSent] = useState({ messages: 0, bytes: 0, backlog: 0 });
  const [log, setLog] = useState<LogLine[]>([]);
  const [ending, setEnding] = useState(false);
  const sessions = useFetch(
    () => (user ? api<{ items: RelaySession[] }>("GET", "/sessions") : Promise.resolve(null)),
    [user?.id, session?.session_id, phase === "finished"],
    15_000,
  );

  // Leaving the page stops the camera, the recorder and the socket.
  const mounted = useRef(true);
  useEffect(
    () => () => {
      mounted.current = false;
      source.current?.stop();
    },
    [],
  );

  // The session as the API sees it: operators, what was relayed, whether it finished.
  const id = session?.session_id;
  const over = phase === "finished" || phase === "failed" || session?.status === "finished";
  useEffect(() => {
    if (!id || over) return;
    const read = () =>
      api<RelaySession>("GET", `/sessions/${encodeURIComponent(id)}`).then(
        (s) => {
          if (!alive) return;
          setSession((old) => fresher(old, s));
          if (s.status === "finished") {
            source.current?.stop();
            setPhase("finished");
          }
        },
        () => undefined,
      );
    let alive = true;
    const timer = window.setInterval(read, 3_000);
    return () => {
      alive = false;
      window.clearInterval(timer);
    };
  }, [id, over]);

  const start = async () => {
    setPhase("starting");
    setProblem(null);
    setClosed(null);
    setSession(null);
    setSent({ messages: 0, bytes: 0, backlog: 0 });
    setLog([]);
    let stream: MediaStream;
    try {
      stream = await navigator.mediaDevices.getUserMedia({ video: true, audio: true });
    } catch (e) {
      setProblem(errorText(e));
      setPhase("failed");
      return;
    }
    const release = () => stream.getTracks().forEach((t) => t.stop());
    if (!mounted.current) return release();
    if (preview.current) preview.current.srcObject = stream;
    let s: RelaySession;
    try {
      s = await api<RelaySession>("POST", "/sessions", {});
    } catch (e) {
      release();
      setProblem(errorText(e));
      setPhase("failed");
      return;
    }
    if (!mounted.current) {
      // Left while it was being made: nobody is going to stream to it.
      release();
      void api("DELETE", `/sessions/${encodeURIComponent(s.session_id)}`).catch(() => undefined);
      return;
    }
    setSession(s);
    let lines = 0;
    const src = new RelaySource(stream, socketUrl(s.ws_url), s.stream_key ?? "", {
      state: (st, c) => {
        if (source.current !== src) return;
        if (c) setClosed(c);
        if (st === "closed" && finishedBy(c ?? null)) {
          setPhase("finished");
          // The reason in words, from the API.
          void api<RelaySession>("GET", `/sessions/${encodeURIComponent(s.session_id)}`).then(
            (v) => setSession((old) => fresher(old, v)),
            () => undefined,
          );
        } else setPhase(st);
      },
      text: (text) =>
        setLog((l) => [...l, { id: ++lines, at: new Date(), text }].slice(-LOG_LINES)),
      sent: (messages, b) => setSent({ messages, bytes: b, backlog: src.backlog }),
      error: (message) => {
        setProblem(message);
        setPhase("failed");
        src.stop();
      },
    });
    source.current = src;
    src.start();
  };

  const end = async () => {
    if (!session) return;
    setEnding(true);
    try {
      await api("DELETE", `/sessions/${encodeURIComponent(session.session_id)}`);
      source.current?.stop();
      setSession((s) => (s ? { ...s, status: "finished", finish_reason: s.finish_reason ?? "deleted" } : s));
      setPhase("finished");
    } catch (e) {
      setProblem(errorText(e));
    } finally {
      setEnding(false);
    }
  };

  if (!user) {
    return (
      <section class="empty">
        <h1>Session relay</h1>
        <p>
          <a href="/login">Log in</a> or <a href="/signup">sign up</a> to start a session.
        </p>
      </section>
    );
  }

  const running = phase === "connecting" || phase === "live" || phase === "reconnecting";
  const busy = phase === "starting" || running;
  const stateClass = running ? (phase === "live" ? "live" : "waiting") : phase === "failed" ? "failed" : "";
  return (
    <div class="relay">
      <h1>Session relay</h1>
      <p class="muted">
        Stream your camera and microphone to your session's operators. They watch live in the operator console.
      </p>
      <div class="relay-layout">
        <section class="panel" aria-labelledby="relay-camera">
          <h2 id="relay-camera">Your camera</h2>
          <div class="player relay-video">
            <video ref={preview} muted autoPlay playsInline data-testid="relay-preview" aria-label="Preview of your camera" />
            {!busy && (
              <p class="player-message relay-placeholder">
                {phase === "idle" ? "Your camera shows here once the session starts." : "Camera off."}
              </p>
            )}
          </div>
          <p class={`relay-status ${stateClass}`} role="status" data-testid="relay-status">
            {statusText(phase, session, closed, problem)}
          </p>
          {problem && phase !== "failed" && (
            <p class="error" role="alert">
              {problem}
            </p>
          )}
          <div class="actions">
            {busy ? (
              <button type="button" class="danger" data-testid="relay-end" disabled={!session || ending} onClick={() => void end()}>
                {ending ? "Ending…" : "End session"}
              </button>
            ) : (
              <button type="button" data-testid="relay-start" onClick={() => void start()}>
                {phase === "idle" ? "Start session" : "Start a new session"}
              </button>
            )}
            {session && (
              <a
                href={`/relay/${encodeURIComponent(session.session_id)}`}
                target="_blank"
                rel="noopener"
                data-testid="relay-operator-link"
              >
                Operator console <span class="muted">(opens in a new tab)</span>
              </a>
            )}
          </div>
        </section>
        <section class="panel" aria-labelledby="relay-details">
          <h2 id="relay-details">Session</h2>
          {session ? (
            <dl class="relay-stats">
              <dt>Session</dt>
              <dd class="mono">{session.session_id}</dd>
              <dt>State</dt>
              <dd>{session.status}</dd>
              <dt>Sent</dt>
              <dd data-testid="relay-sent">
                {sent.messages} messages · {bytes(sent.bytes)}
                {running && sent.backlog > 0 && ` · ${bytes(sent.backlog)} waiting to go out`}
              </dd>
              <dt>Relayed</dt>
              <dd>
                {session.messages_relayed} messages · {bytes(session.bytes_relayed)}
              </dd>
              <dt>Operators</dt>
              <dd>{session.operators.length}</dd>
            </dl>
          ) : (
            <p class="muted">No session yet.</p>
          )}
          <h3 id="relay-log-title">Messages from operators</h3>
          <div class="relay-log-box" role="log" aria-labelledby="relay-log-title" data-testid="relay-log" tabIndex={0}>
            {log.length ? (
              <ol class="relay-log">
                {log.map((l) => (
                  <li key={l.id}>
                    <time class="muted" dateTime={l.at.toISOString()}>
                      {l.at.toLocaleTimeString()}
                    </time>{" "}
                    {l.text}
                  </li>
                ))}
              </ol>
            ) : (
              <p class="muted">None yet.</p>
            )}
          </div>
        </section>
      </div>
      {!!sessions.data?.items.length && (
        <section class="panel" aria-labelledby="relay-history">
          <h2 id="relay-history">Your sessions</h2>
          <ul class="relay-sessions">
            {sessions.data.items.slice(0, 10).map((s) => (
              <li key={s.session_id}>
                <span class={`dot ${s.status === "active" ? "live" : s.status}`} aria-hidden="true" />
                <span class="mono">{s.session_id.slice(0, 8)}</span> <span class="muted">{ago(s.created_at)}</span> ·{" "}
                {s.status === "finished" ? finishedText(s.finish_reason) : s.status}
                {s.status !== "finished" && (
                  <>
                    {" "}
                    ·{" "}
                    <a href={`/relay/${encodeURIComponent(s.session_id)}`} target="_blank" rel="noopener">
                      console
                    </a>
                  </>
                )}
              </li>
            ))}
          </ul>
        </section>
      )}
    </div>
  );
}
