// The API client: one origin, everything under /api/.
//
// Tokens: the access token lives in memory only (gone with the tab). The
// refresh token never reaches this code: the API keeps it in an HttpOnly,
// SameSite=Strict cookie scoped to /api/auth (`refresh_token_in: "cookie"`),
// which no script, an injected one included, can read; it rotates on every
// use, and a reuse past a few seconds' grace revokes the whole login. Tabs
// share the cookie: a refresh runs under a Web Lock so they take turns, and
// the grace covers a page reloaded while its refresh was in flight.
// localStorage holds only a hint that a login exists (no secret), so pages
// of signed-out visitors never call refresh, and tabs follow a logout.

export interface Owner {
  id: string;
  username: string;
}
export interface User {
  id: string;
  username: string;
  email?: string;
  created_at?: string;
}
export type Status = "idle" | "waiting" | "live" | "ended";
export type Visibility = "public" | "private";
export interface Ingest {
  protocol: "srt" | "rtmp";
  rtmp: { server: string; stream_key: string };
  srt: { url: string };
  stream_key: string;
  url: string;
}
export type Latency = "standard" | "low";
/** SRT's view of the link from the encoder since the last report, 10 s (absent for RTMP). */
export interface SrtLink {
  rtt_ms: number;
  /** Packets lost on the way in, as a share of those received (0–100). */
  loss_percent: number;
  /** Packets the encoder sent again. */
  retransmits: number;
  /** Packets that came too late to play, even resent: gaps viewers see. */
  dropped: number;
  /** What SRT estimates the link can carry. */
  link_bandwidth_bps: number | null;
}
/** A problem with the incoming stream, said plainly, with what to do. */
export interface HealthWarning {
  /** `keyframe_interval`, `no_audio`, `no_video`, `bitrate_high`,
   * `bitrate_low`, `frame_rate_low`, `packet_loss`, `high_rtt`. */
  code: string;
  message: string;
}
/** What the ingest node measures of a live stream (issue 15): only its
 * owner gets it, only while live, renewed every 10 s. */
export interface StreamHealth {
  /** `good` with no warnings, else `warning`. */
  status: "good" | "warning";
  ingest_bitrate_bps: number;
  frame_rate: number | null;
  keyframe_interval_s: number | null;
  /** RFC 6381 codec strings: "avc1.64001f", "mp4a.40.2". */
  video_codec: string | null;
  audio_codec: string | null;
  audio: boolean;
  width: number | null;
  height: number | null;
  srt: SrtLink | null;
  warnings: HealthWarning[];
  /** RFC 3339. */
  measured_at: string;
}
export interface Stream {
  id: string;
  title: string;
  description: string;
  status: Status;
  visibility: Visibility;
  profile: "source" | "ladder";
  latency: Latency;
  protocol: "srt" | "rtmp";
  record: boolean;
  owner: Owner;
  hls_url: string | null;
  thumbnail_url: string | null;
  ingest: Ingest | null;
  stream_key: string | null;
  bitrate_bps: number | null;
  renditions: string[];
  segments: number | null;
  duration_s: number | null;
  started_at: string | null;
  ended_at: string | null;
  created_at: string;
  viewer_count?: number | null;
  /** Only for the owner, only while live; absent until the first measurement. */
  health?: StreamHealth | null;
}
export interface Video {
  id: string;
  stream_id: string;
  title: string;
  description: string;
  tags: string[];
  visibility: Visibility;
  owner: Owner;
  hls_url: string | null;
  mp4_url: string | null;
  thumbnail_url: string | null;
  duration_s: number | null;
  view_count: number;
  like_count: number;
  liked: boolean | null;
  created_at: string;
}
/** A session of the relay (issue 14): a client streams to its operators. */
export type RelayStatus = "waiting" | "active" | "finished";
export type FinishReason = "deleted" | "client_gone" | "idle" | "node_shutdown";
export interface RelaySession {
  session_id: string;
  client_id: string;
  creator_id: string;
  status: RelayStatus;
  /** Operators (user ids) who have joined. */
  operators: string[];
  invited: string[];
  created_at: string;
  started_at: string | null;
  finished_at: string | null;
  finish_reason: FinishReason | null;
  messages_relayed: number;
  bytes_relayed: number;
  /** The client's socket (authenticated with the stream key). */
  ws_url: string;
  /** The caller's own operator socket (authenticated with the access token);
   * absent when the caller is the session's client. */
  operator_ws_url?: string | null;
  /** At most this many operators are connected at once. */
  max_operators?: number;
  /** Only in the answer that created the session. */
  stream_key?: string;
}
export interface Page<T> {
  items: T[];
  next_cursor: string | null;
}

export class ApiError extends Error {
  constructor(
    public status: number,
    public code: string,
    message: string,
    public field?: string,
  ) {
    super(message);
  }
}

const SIGNED_IN_KEY = "skycast.signed_in";
let access: { token: string; expiresAt: number } | null = null;
let user: User | null = null;
let refreshTimer: number | undefined;
const listeners = new Set<(u: User | null) => void>();

export function currentUser(): User | null {
  return user;
}

/** Calls `f` whenever the signed-in user changes; returns the unsubscribe. */
export function onUserChange(f: (u: User | null) => void): () => void {
  listeners.add(f);
  return () => listeners.delete(f);
}

function setSession(t: TokenResponse | null) {
  window.clearTimeout(refreshTimer);
  if (t) {
    access = { token: t.access_token, expiresAt: Date.now() + t.expires_in * 1000 };
    localStorage.setItem(SIGNED_IN_KEY, "1");
    user = t.user;
    // Silent refresh a little before the access token expires.
    const inMs = Math.max(5_000, (t.expires_in - 30) * 1000);
    refreshTimer = window.setTimeout(() => void refresh().catch(() => undefined), inMs);
  } else {
    access = null;
    user = null;
    localStorage.removeItem(SIGNED_IN_KEY);
  }
  listeners.forEach((f) => f(user));
}

interface TokenResponse {
  access_token: string;
  expires_in: number;
  user: User;
}

let refreshing: Promise<boolean> | null = null;

/** A new access token from the refresh cookie; false when signed out. */
export function refresh(): Promise<boolean> {
  if (!refreshing) {
    const run = async (): Promise<boolean> => {
      if (!localStorage.getItem(SIGNED_IN_KEY)) {
        setSession(null);
        return false;
      }
      const r = await fetch("/api/auth/refresh", {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ refresh_token_in: "cookie" }),
      });
      if (!r.ok) {
        // Only a refusal signs out (the API cleared the cookie): a network
        // error leaves the login for a retry.
        if (r.status === 401) setSession(null);
        return false;
      }
      setSession((await r.json()) as TokenResponse);
      return true;
    };
    const locked = (navigator.locks ? navigator.locks.request("skycast-refresh", run) : run()) as Promise<boolean>;
    const flight = locked.finally(() => {
      refreshing = null;
    });
    refreshing = flight;
    return flight;
  }
  return refreshing;
}

async function errorOf(r: Response): Promise<ApiError> {
  try {
    const body = await r.json();
    const e = body?.error ?? {};
    return new ApiError(r.status, e.code ?? "error", e.message ?? r.statusText, e.field);
  } catch {
    return new ApiError(r.status, "error", r.statusText || `HTTP ${r.status}`);
  }
}

/** One API call; signed in when a token is at hand (or can be had). */
export async function api<T>(method: string, path: string, body?: unknown): Promise<T> {
  if (access && access.expiresAt - Date.now() < 10_000) await refresh().catch(() => false);
  const send = () => {
    const headers: Record<string, string> = {};
    if (body !== undefined) headers["content-type"] = "application/json";
    if (access) headers.authorization = `Bearer ${access.token}`;
    return fetch(`/api${path}`, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  };
  let r = await send();
  if (r.status === 401 && access && (await refresh().catch(() => false))) r = await send();
  if (!r.ok) throw await errorOf(r);
  if (r.status === 204) return undefined as T;
  return (await r.json()) as T;
}

/** The access token, fresh for a while yet (a socket's subprotocol carries
 * it); null when signed out. */
export async function accessToken(): Promise<string | null> {
  if (!access || access.expiresAt - Date.now() < 30_000) await refresh().catch(() => false);
  return access?.token ?? null;
}

/** Signs in (`/auth/login` or `/auth/register`), the refresh token into its cookie. */
async function signIn(path: string, body: Record<string, string>): Promise<User> {
  const r = await fetch(`/api${path}`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ ...body, refresh_token_in: "cookie" }),
  });
  if (!r.ok) throw await errorOf(r);
  const t = (await r.json()) as TokenResponse;
  setSession(t);
  return t.user;
}

export function register(username: string, email: string, password: string): Promise<User> {
  return signIn("/auth/register", { username, email, password });
}

export function login(username: string, password: string): Promise<User> {
  return signIn("/auth/login", username.includes("@") ? { email: username, password } : { username, password });
}

/** Ends the login (the API revokes the cookie's token and clears it). */
export async function logout(): Promise<void> {
  try {
    if (access) await api("POST", "/auth/logout", {});
  } finally {
    setSession(null);
  }
}

/** Signs in again from the refresh cookie, if there is a login (on page load). */
export async function resume(): Promise<void> {
  if (localStorage.getItem(SIGNED_IN_KEY)) await refresh().catch(() => false);
}

/** Another tab signed out: follow it. */
window.addEventListener("storage", (e) => {
  if (e.key === SIGNED_IN_KEY && !e.newValue) setSession(null);
});

export function query(params: Record<string, string | number | undefined>): string {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v !== undefined && v !== "") q.set(k, String(v));
  const s = q.toString();
  return s ? `?${s}` : "";
}
