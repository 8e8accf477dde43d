// The relay's socket protocol as the pages use it: the subprotocol, the
// header control message, and close codes and finish reasons in words.
import type { FinishReason } from "../api";

/** The subprotocol the relay answers; the credential rides as the second one offered. */
export const SUBPROTOCOL = "skycast";
/** Tells the relay that the client's next binary message is the stream header. */
export const HEADER_CONTROL = JSON.stringify({ skycast: "header" });

/** How a socket ended, as the page saw it. */
export interface Closed {
  code: number;
  reason: string;
  /** Whether the socket had opened (else the handshake failed). */
  opened: boolean;
}

/** Closes that mean the session is over. */
export function finishedBy(c: Closed | null): boolean {
  return !!c && (c.code === 1000 || c.code === 1001);
}

/** A socket's close, in words. */
export function explainClose(c: Closed): string {
  switch (c.code) {
    case 1000:
      return "Session finished.";
    case 1001:
      return "The server is shutting down, so the session finished.";
    case 1003:
      return "Closed by the server: operators may send text only.";
    case 1008:
      return "Closed by the server: it did not understand a control message.";
    case 1009:
      return "Closed by the server: a message was bigger than the relay allows.";
    case 1013:
      return "Dropped by the server: this connection fell too far behind.";
    case 4001:
      return "The session is full: too many operators are connected.";
    case 4002:
      return "Replaced by a newer connection of the client (another tab or device).";
    case 4003:
      return "The session's creator no longer invites you to operate it.";
    case 1006:
      return c.opened ? "The connection to the relay was lost." : "Could not connect to the relay.";
    default:
      return `The connection closed (code ${c.code}${c.reason ? `: ${c.reason}` : ""}).`;
  }
}

const REASONS: Record<FinishReason, string> = {
  deleted: "ended by its creator",
  client_gone: "the client disconnected",
  idle: "nothing was sent for too long",
  node_shutdown: "the server shut down",
};

/** "Session finished: …" with the reason, when known. */
export function finishedText(reason: string | null | undefined): string {
  const words = reason ? (REASONS[reason as FinishReason] ?? reason) : null;
  return words ? `Session finished: ${words}.` : "Session finished.";
}

/** A socket URL from the API, fit for this page (wss:// on an https:// page). */
export function socketUrl(u: string): string {
  try {
    const url = new URL(u, location.href);
    if (url.protocol === "http:") url.protocol = "ws:";
    if (url.protocol === "https:") url.protocol = "wss:";
    if (location.protocol === "https:" && url.protocol === "ws:") url.protocol = "wss:";
    return url.toString();
  } catch {
    return u;
  }
}

export function bytes(n: number): string {
  if (n < 1024) return `${n} B`;
  if (n < 1024 * 1024) return `${(n / 1024).toFixed(1)} KB`;
  return `${(n / 1024 / 1024).toFixed(1)} MB`;
}
