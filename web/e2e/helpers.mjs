// What the browser tests share: the browser (Debian's Chromium through
// playwright-core), fresh profiles that collect console errors, signing up,
// waiting with a deadline, and each page's screenshots with its checks
// (axe's WCAG 2.1 A and AA rules, nothing wider than a phone's screen).
// Not a test file itself (`node --test` runs only *.test.mjs).
import assert from "node:assert/strict";
import { mkdirSync } from "node:fs";
import { createRequire } from "node:module";
import { join } from "node:path";
import { chromium } from "playwright-core";

export const BASE = process.env.SKYCAST_BASE_URL ?? "http://127.0.0.1:8080";
export const SHOTS = process.env.SKYCAST_SCREENSHOTS ?? "target/web-screenshots";
export const CHROMIUM = process.env.CHROMIUM ?? "/usr/bin/chromium";
export const PASSWORD = "correct horse battery";
const AXE = createRequire(import.meta.url).resolve("axe-core/axe.min.js");
export const DESKTOP = { width: 1280, height: 800 };
export const PHONE = { width: 390, height: 844 };

/** The browser, with `args` besides the usual ones; makes the screenshots' folder. */
export async function launch(args = []) {
  mkdirSync(SHOTS, { recursive: true });
  return chromium.launch({
    executablePath: CHROMIUM,
    // Root in a container has no user namespaces for the sandbox.
    args: ["--no-sandbox", "--autoplay-policy=no-user-gesture-required", "--mute-audio", ...args],
  });
}

/** A fresh browser profile, reporting console errors. */
export async function newContext(browser, viewport = DESKTOP, options = {}) {
  const ctx = await browser.newContext({ viewport, ...options });
  ctx.errors = [];
  ctx.on("page", (page) => {
    page.on("console", (m) => m.type() === "error" && ctx.errors.push(m.text()));
    page.on("pageerror", (e) => ctx.errors.push(String(e)));
  });
  return ctx;
}

/** axe-core's WCAG 2.1 A and AA rules on the page as it is: what fails
 * (labels, names, contrast, roles, focusable controls…). */
export async function accessibilityProblems(page) {
  await page.addScriptTag({ path: AXE });
  return page.evaluate(async () => {
    const r = await window.axe.run(document, { runOnly: ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"] });
    return r.violations.map((v) => `${v.id} (${v.impact}): ${v.nodes.slice(0, 3).map((n) => n.target.join(" ")).join(", ")}`);
  });
}

export async function shot(page, name) {
  assert.deepEqual(await accessibilityProblems(page), [], `${name}: accessibility`);
  for (const [label, size] of [
    ["desktop", DESKTOP],
    ["phone", PHONE],
  ]) {
    await page.setViewportSize(size);
    // Responsive: nothing wider than the screen (no sideways scrolling).
    const wide = await page.evaluate(() =>
      [...document.querySelectorAll("body *")]
        .filter((e) => e.getBoundingClientRect().right > document.documentElement.clientWidth + 1)
        .slice(0, 5)
        .map((e) => `${e.tagName}.${e.className} ${Math.round(e.getBoundingClientRect().right)}`),
    );
    assert.deepEqual(wide, [], `${name} at ${label} width overflows the screen`);
    await page.screenshot({ path: join(SHOTS, `${name}-${label}.png`), fullPage: true });
  }
  await page.setViewportSize(DESKTOP);
}

export function unique(name) {
  return `${name}${Date.now().toString(36)}${Math.floor(Math.random() * 1e4)}`;
}

export async function signUp(page, username) {
  await page.goto(`${BASE}/signup`);
  await page.getByLabel("Username").fill(username);
  await page.getByLabel("Email").fill(`${username}@example.com`);
  await page.getByLabel(/^Password/).fill(PASSWORD);
  await page.getByRole("button", { name: "Sign up" }).click();
  await page.getByTestId("username").getByText(username).waitFor();
}

/** `f()` again every `every` ms until it is truthy (its value), for at most `ms`. */
export async function until(what, f, ms = 30_000, every = 250) {
  const deadline = Date.now() + ms;
  let last;
  while (Date.now() < deadline) {
    last = await f();
    if (last) return last;
    await new Promise((r) => setTimeout(r, every));
  }
  assert.fail(`timed out after ${ms} ms waiting for ${what}`);
}
