import { useEffect, useState } from "preact/hooks";
import { currentUser, logout, onUserChange, type User } from "./api";
import { Embed } from "./pages/Embed";
import { Home } from "./pages/Home";
import { LivePage } from "./pages/Live";
import { Login } from "./pages/Login";
import { NotFound } from "./pages/NotFound";
import { Relay } from "./pages/Relay";
import { RelayConsole } from "./pages/RelayConsole";
import { Studio } from "./pages/Studio";
import { StudioVideos } from "./pages/StudioVideos";
import { UserPage } from "./pages/User";
import { VideoPage } from "./pages/Video";
import { match, navigate, onLinkClick, useLocation } from "./router";

export function useUser(): User | null {
  const [user, setUser] = useState(currentUser());
  useEffect(() => onUserChange(setUser), []);
  return user;
}

function route(path: string, search: URLSearchParams) {
  let p: Record<string, string> | null;
  if (path === "/") return <Home q={search.get("q") ?? ""} tag={search.get("tag") ?? ""} />;
  if ((p = match("/live/:id", path))) return <LivePage id={p.id} />;
  if ((p = match("/watch/:id", path))) return <VideoPage id={p.id} />;
  if ((p = match("/u/:id", path))) return <UserPage id={p.id} />;
  if (path === "/embed")
    return <Embed src={search.get("src") ?? ""} live={search.get("live") !== "0"} lowLatency={search.get("latency") === "low"} />;
  if (path === "/login") return <Login mode="login" />;
  if (path === "/signup") return <Login mode="signup" />;
  if (path === "/studio") return <Studio />;
  if (path === "/studio/videos") return <StudioVideos />;
  if (path === "/relay") return <Relay />;
  if ((p = match("/relay/:id", path))) return <RelayConsole id={p.id} key={p.id} />;
  return <NotFound />;
}

export function App() {
  const url = useLocation();
  const user = useUser();
  const [q, setQ] = useState(url.searchParams.get("q") ?? "");
  useEffect(() => {
    document.addEventListener("click", onLinkClick);
    return () => document.removeEventListener("click", onLinkClick);
  }, []);
  return (
    <>
      <a class="skip" href="#main">
        Skip to content
      </a>
      <header class="top">
        <a href="/" class="brand" aria-label="Skycast home">
          <img src="/favicon.svg" alt="" width="24" height="24" /> Skycast
        </a>
        <form
          role="search"
          class="search"
          onSubmit={(e) => {
            e.preventDefault();
            navigate(q ? `/?q=${encodeURIComponent(q)}` : "/");
          }}
        >
          <input
            type="search"
            aria-label="Search videos"
            placeholder="Search videos"
            value={q}
            onInput={(e) => setQ((e.target as HTMLInputElement).value)}
          />
        </form>
        <nav aria-label="Account">
          {user ? (
            <>
              <a href="/studio">Studio</a>
              <a href="/studio/videos">My videos</a>
              <a href="/relay">Relay</a>
              <span class="who" data-testid="username">
                {user.username}
              </span>
              <button type="button" class="link" onClick={() => void logout().then(() => navigate("/"))}>
                Log out
              </button>
            </>
          ) : (
            <>
              <a href="/login">Log in</a>
              <a href="/signup" class="button">
                Sign up
              </a>
            </>
          )}
        </nav>
      </header>
      <main id="main">{route(url.pathname, url.searchParams)}</main>
    </>
  );
}
