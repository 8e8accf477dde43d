import { useState } from "preact/hooks";
import { ApiError, login, register } from "../api";
import { navigate } from "../router";

export function Login({ mode }: { mode: "login" | "signup" }) {
  const [form, setForm] = useState({ username: "", email: "", password: "" });
  const [error, setError] = useState<ApiError | null>(null);
  const [busy, setBusy] = useState(false);
  const signup = mode === "signup";
  const set = (k: keyof typeof form) => (e: Event) => setForm({ ...form, [k]: (e.target as HTMLInputElement).value });
  const submit = async (e: Event) => {
    e.preventDefault();
    setBusy(true);
    setError(null);
    try {
      if (signup) await register(form.username, form.email, form.password);
      else await login(form.username, form.password);
      navigate("/studio");
    } catch (err) {
      setError(err instanceof ApiError ? err : new ApiError(0, "network", String(err)));
    } finally {
      setBusy(false);
    }
  };
  return (
    <form class="panel narrow" onSubmit={submit} aria-labelledby="auth-title">
      <h1 id="auth-title">{signup ? "Create your account" : "Log in"}</h1>
      <label>
        {signup ? "Username" : "Username or email"}
        <input name="username" autoComplete="username" required value={form.username} onInput={set("username")} />
      </label>
      {signup && (
        <label>
          Email
          <input name="email" type="email" autoComplete="email" required value={form.email} onInput={set("email")} />
        </label>
      )}
      <label>
        Password {signup && <small>(at least 10 characters)</small>}
        <input
          name="password"
          type="password"
          autoComplete={signup ? "new-password" : "current-password"}
          required
          minLength={signup ? 10 : undefined}
          value={form.password}
          onInput={set("password")}
        />
      </label>
      {error && (
        <p class="error" role="alert">
          {error.message}
        </p>
      )}
      <button type="submit" disabled={busy}>
        {signup ? "Sign up" : "Log in"}
      </button>
      <p class="muted">
        {signup ? (
          <>
            Have an account? <a href="/login">Log in</a>
          </>
        ) : (
          <>
            New here? <a href="/signup">Sign up</a>
          </>
        )}
      </p>
    </form>
  );
}
