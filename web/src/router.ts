// A small History-API router: the app's pages live under prefixes the API
// never uses (/live/, /watch/, /u/, /studio, /relay, /login, /signup), so the one
// origin serves both without collisions.
import { useEffect, useState } from "preact/hooks";

const EVENT = "skycast:navigate";

export function navigate(to: string, replace = false) {
  if (replace) history.replaceState(null, "", to);
  else history.pushState(null, "", to);
  window.dispatchEvent(new Event(EVENT));
  window.scrollTo(0, 0);
}

/** The current location (path + search), following navigation. */
export function useLocation(): URL {
  const [url, setUrl] = useState(() => new URL(location.href));
  useEffect(() => {
    const update = () => setUrl(new URL(location.href));
    window.addEventListener("popstate", update);
    window.addEventListener(EVENT, update);
    return () => {
      window.removeEventListener("popstate", update);
      window.removeEventListener(EVENT, update);
    };
  }, []);
  return url;
}

/** Matches `pattern` (segments, `:name` for a parameter) against `path`. */
export function match(pattern: string, path: string): Record<string, string> | null {
  const p = pattern.split("/").filter(Boolean);
  const s = path.split("/").filter(Boolean);
  if (p.length !== s.length) return null;
  const params: Record<string, string> = {};
  for (let i = 0; i < p.length; i++) {
    if (p[i].startsWith(":")) params[p[i].slice(1)] = decodeURIComponent(s[i]);
    else if (p[i] !== s[i]) return null;
  }
  return params;
}

/** Same-origin links navigate without a reload. */
export function onLinkClick(e: MouseEvent) {
  if (e.defaultPrevented || e.button !== 0 || e.metaKey || e.ctrlKey || e.shiftKey || e.altKey) return;
  const a = (e.target as Element | null)?.closest?.("a");
  if (!a || a.target || a.origin !== location.origin || a.hasAttribute("download")) return;
  if (a.pathname.startsWith("/api/") || a.pathname.startsWith("/cdn/")) return;
  e.preventDefault();
  navigate(a.pathname + a.search);
}
