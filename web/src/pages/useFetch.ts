import { useEffect, useState } from "preact/hooks";
import { ApiError } from "../api";

export interface Loaded<T> {
  data: T | null;
  error: ApiError | null;
  loading: boolean;
  reload: () => void;
}

/** Loads `f()` when `deps` change; every `pollMs` too, while mounted (with
 * `whileVisible`, only while the page is visible, and at once when it shows
 * again). */
export function useFetch<T>(f: () => Promise<T>, deps: unknown[], pollMs?: number, whileVisible = false): Loaded<T> {
  const [state, setState] = useState<{ data: T | null; error: ApiError | null; loading: boolean }>({
    data: null,
    error: null,
    loading: true,
  });
  const [tick, setTick] = useState(0);
  useEffect(() => {
    let live = true;
    const load = () =>
      f().then(
        (data) => live && setState({ data, error: null, loading: false }),
        (e) =>
          live &&
          setState((s) => ({
            data: s.data,
            error: e instanceof ApiError ? e : new ApiError(0, "network", String(e)),
            loading: false,
          })),
      );
    void load();
    const poll = () => {
      if (!(whileVisible && document.visibilityState === "hidden")) void load();
    };
    const timer = pollMs ? window.setInterval(poll, pollMs) : undefined;
    if (pollMs && whileVisible) document.addEventListener("visibilitychange", poll);
    return () => {
      live = false;
      window.clearInterval(timer);
      document.removeEventListener("visibilitychange", poll);
    };
  }, [...deps, tick]);
  return { ...state, reload: () => setTick((t) => t + 1) };
}
