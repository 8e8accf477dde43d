// The web app in a real browser (Debian's Chromium through playwright-core)
// against the real local stack (`skycast-dev`, started by dev/tests/web.rs,
// which passes its address in SKYCAST_BASE_URL), with FFmpeg publishing.
// Screenshots of each page, at desktop and phone width, go to
// SKYCAST_SCREENSHOTS (default target/web-screenshots).
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { after, before, test } from "node:test";
import { BASE, launch, newContext, shot, signUp, unique, until } from "./helpers.mjs";

let browser;
const children = [];

before(async () => {
  browser = await launch();
});

after(async () => {
  for (const c of children) if (c.exitCode === null) c.kill("SIGKILL");
  await browser?.close();
});

/** A fresh browser profile, reporting console errors. */
const context = (viewport) => newContext(browser, viewport);

async function createStream(page, title, visibility = "public") {
  await page.goto(`${BASE}/studio`);
  const form = page.getByRole("form", { name: "New stream" });
  await form.getByLabel("Title").fill(title);
  await form.getByLabel("Visibility").selectOption(visibility);
  await form.getByRole("button", { name: "Create stream" }).click();
  await page.getByRole("heading", { name: title }).waitFor();
  return new URL(page.url()).searchParams.get("stream");
}

/** OBS's two fields, read off the dashboard the way a streamer would. */
async function obsFields(page) {
  const server = await page.getByTestId("obs-server").inputValue();
  assert.match(server, /^rtmp:\/\/[^/]+:\d+\/live$/);
  assert.equal(await page.getByTestId("obs-key").getAttribute("data-value"), "", "the key is hidden until asked");
  await page.getByRole("button", { name: "Show" }).first().click();
  const key = await page.getByTestId("obs-key").getAttribute("data-value");
  assert.ok(key && key.length >= 16, `a stream key: ${key}`);
  return { server, key };
}

/** FFmpeg as the encoder: a 720p test pattern and tone, in real time, over RTMP. */
function publish({ server, key }, seconds) {
  const ffmpeg = spawn(
    "ffmpeg",
    [
      ...["-hide_banner", "-loglevel", "error", "-nostdin", "-re"],
      ...["-f", "lavfi", "-i", `testsrc2=size=1280x720:rate=30:duration=${seconds}`],
      ...["-f", "lavfi", "-i", `sine=frequency=440:sample_rate=48000:duration=${seconds}`],
      ...["-c:v", "libx264", "-preset", "ultrafast", "-tune", "zerolatency", "-b:v", "1500k", "-g", "60"],
      ...["-pix_fmt", "yuv420p", "-c:a", "aac", "-b:a", "96k", "-f", "flv", `${server}/${key}`],
    ],
    { stdio: ["ignore", "ignore", "inherit"] },
  );
  children.push(ffmpeg);
  return ffmpeg;
}

async function status(page) {
  return (await page.getByTestId("stream-status").textContent()).trim();
}

/** The player's video element state. */
function videoState(page) {
  return page.locator("video").evaluate((v) => ({
    t: v.currentTime,
    h: v.videoHeight,
    paused: v.paused,
    start: v.seekable.length ? v.seekable.start(0) : 0,
    end: v.seekable.length ? v.seekable.end(v.seekable.length - 1) : 0,
    duration: v.duration,
  }));
}

async function playing(page, ms = 30_000) {
  const first = await until("the picture to move", async () => ((await videoState(page)).t > 0 ? videoState(page) : null), ms);
  await until("currentTime to advance", async () => (await videoState(page)).t > first.t + 1, ms);
}

test("a streamer goes live from the dashboard, a viewer watches with quality and DVR, the replay plays", async () => {
  const streamer = await context();
  const studio = await streamer.newPage();
  const name = unique("caster");
  await signUp(studio, name);
  // Signed in across reloads; the refresh token out of the page's reach, in
  // an HttpOnly cookie only the auth routes get, rotated at every load.
  const refreshCookie = async () => (await streamer.cookies()).find((c) => c.name === "skycast_refresh");
  const signedUpWith = await refreshCookie();
  assert.ok(
    signedUpWith?.httpOnly && signedUpWith.sameSite === "Strict" && signedUpWith.path === "/api/auth",
    JSON.stringify(signedUpWith),
  );
  await studio.reload();
  await studio.getByTestId("username").getByText(name).waitFor();
  await until("the cookie rotated by the reload's refresh", async () => (await refreshCookie())?.value !== signedUpWith.value);
  const visible = await studio.evaluate(() => document.cookie + JSON.stringify(localStorage));
  assert.doesNotMatch(visible, /skycast_refresh|refresh_token/);
  // A reload that cut its refresh short never stored the new cookie: the
  // browser still holds the spent one. Within the reuse grace the login holds.
  await streamer.addCookies([signedUpWith]);
  await studio.reload();
  await studio.getByTestId("username").getByText(name).waitFor();
  const title = `Live test ${name}`;
  const streamId = await createStream(studio, title);
  assert.equal(await status(studio), "idle");
  const fields = await obsFields(studio);
  await shot(studio, "studio");

  const encoder = publish(fields, 75);
  await until("the dashboard to say live", async () => (await status(studio)) === "live", 45_000);
  // Stream health (issue 15): while live, the owner's dashboard has a health
  // panel, "Measuring…" until the node's first report, then a status badge.
  await studio.getByRole("heading", { name: "Stream health" }).waitFor({ timeout: 10_000 });
  const health = studio.getByTestId("stream-health");
  await until("the health panel's state", async () =>
    (await health.getByTestId("health-status").count()) > 0 || (await health.getByText("Measuring…").count()) > 0);
  await shot(studio, "studio-live");

  // An anonymous viewer finds it on the home page and plays it.
  const viewer = await context();
  const home = await viewer.newPage();
  await home.goto(BASE);
  const card = home.getByTestId("live-card").filter({ hasText: title });
  await until("the live card on the home page", async () => {
    if (await card.count()) return true;
    await home.reload();
    return false;
  }, 30_000, 2_000);
  await shot(home, "home");
  await card.click();
  await home.waitForURL(`**/live/${streamId}`);
  await playing(home);
  await shot(home, "live");
  // Viewer count: 1, then 2 with a second viewer (another tab, same address).
  const watching = (page) => page.getByTestId("viewer-count").textContent().catch(() => "");
  await until("1 watching", async () => (await watching(home)).includes("1 watching"));
  const second = await (await context()).newPage();
  await second.goto(`${BASE}/live/${streamId}`);
  await playing(second);
  await until("2 watching", async () => (await watching(second)).includes("2 watching"));
  await until("2 watching for the first viewer too", async () => (await watching(home)).includes("2 watching"), 30_000);
  await second.context().close();

  // ABR: three renditions in the menu, and a manual choice changes the picture.
  const quality = home.getByTestId("quality");
  const options = await quality.locator("option").allTextContents();
  assert.ok(options.length >= 4, `Auto + at least 3 renditions: ${options}`);
  const heights = options.slice(1).map((o) => parseInt(o, 10));
  assert.deepEqual(heights, [...heights].sort((a, b) => b - a), "highest first");
  const lowest = await quality.locator("option").last().getAttribute("value");
  await quality.selectOption(lowest);
  await until("the lowest rendition on screen", async () => (await videoState(home)).h === Math.min(...heights), 30_000);
  await quality.selectOption("-1");

  // DVR: once the window holds 25 s, rewind 20 s with the keyboard (j = −10 s)
  // and come back with "go to live".
  await until("25 s in the live window", async () => {
    const s = await videoState(home);
    return s.end - s.start >= 25;
  }, 60_000, 1_000);
  await home.locator("body").click({ position: { x: 5, y: 5 } });
  const before = await videoState(home);
  await home.keyboard.press("j");
  await home.keyboard.press("j");
  const rewound = await videoState(home);
  assert.ok(before.t - rewound.t > 15 && before.t - rewound.t < 25, `rewound 20 s: ${before.t} → ${rewound.t}`);
  await until("the go-live button to offer itself", async () =>
    (await home.getByTestId("go-live").getAttribute("aria-label")) === "Go to live",
  );
  await home.getByTestId("go-live").click();
  await until("back at the live edge", async () => {
    const s = await videoState(home);
    return s.end - s.t < 8;
  });
  // Space pauses and plays (k too); on a focused button, space is the button's.
  await home.locator("body").click({ position: { x: 5, y: 5 } });
  await home.keyboard.press(" ");
  await until("paused by the space bar", async () => (await videoState(home)).paused);
  await home.keyboard.press("k");
  await until("playing again with k", async () => !(await videoState(home)).paused);
  // ← −5 s, → +5 s, l +10 s (clamped at the live edge), m mutes, f full screen and back.
  const t0 = (await videoState(home)).t;
  await home.keyboard.press("ArrowLeft");
  await home.keyboard.press("ArrowLeft");
  const t1 = (await videoState(home)).t;
  assert.ok(t0 - t1 > 8 && t0 - t1 < 12, `two ← are 10 s back: ${t0} → ${t1}`);
  await home.keyboard.press("ArrowRight");
  const t2 = (await videoState(home)).t;
  assert.ok(t2 - t1 > 4 && t2 - t1 < 6, `→ is 5 s on: ${t1} → ${t2}`);
  await home.keyboard.press("l");
  const t3 = (await videoState(home)).t;
  assert.ok(t3 > t2 + 2, `l goes on, up to the live edge: ${t2} → ${t3}`);
  const muted = () => home.locator("video").evaluate((v) => v.muted);
  assert.equal(await muted(), false);
  await home.keyboard.press("m");
  assert.equal(await muted(), true, "m mutes");
  await home.keyboard.press("m");
  assert.equal(await muted(), false, "m again unmutes");
  await home.keyboard.press("f");
  await until("full screen", () => home.evaluate(() => document.fullscreenElement !== null));
  await home.keyboard.press("f");
  await until("out of full screen", () => home.evaluate(() => document.fullscreenElement === null));

  // The streamer stops; the viewer is told; the replay is listed.
  await studio.getByRole("button", { name: "Stop stream" }).click();
  await until("the dashboard to say ended", async () => (await status(studio)) === "ended", 30_000);
  assert.equal(await studio.getByRole("heading", { name: "Stream health" }).count(), 0, "no health panel once ended");
  encoder.kill("SIGKILL");
  await home.getByText("This stream has ended.").waitFor({ timeout: 30_000 });

  // The streamer edits the stream: a new title, and low latency, whose OBS
  // setting (a keyframe every second) the dashboard then asks for.
  assert.match(await studio.getByTestId("obs-keyframes").textContent(), /Keyframe Interval 2 s/);
  await studio.getByText("Edit stream").click();
  const settings = studio.getByRole("form", { name: "Stream settings" });
  await settings.getByLabel("Title").fill(`${title} (low latency)`);
  await settings.getByTestId("latency").selectOption("low");
  await settings.getByRole("button", { name: "Save" }).click();
  await studio.getByRole("heading", { name: `${title} (low latency)` }).waitFor();
  await until("the dashboard to ask for 1 s keyframes", async () =>
    /Keyframe Interval 1 s/.test(await studio.getByTestId("obs-keyframes").textContent()));

  const videos = await streamer.newPage();
  await until("the replay among my videos", async () => {
    await videos.goto(`${BASE}/studio/videos`);
    // The page loads its list after it renders: wait for it, not just for the page.
    return videos.getByRole("form").first().waitFor({ timeout: 2_000 }).then(() => true, () => false);
  }, 60_000, 0);
  await shot(videos, "my-videos");
  const watchHref = await videos.locator("a.thumb").first().getAttribute("href");

  // The viewer watches the replay, seeks to the middle (5), counts a view, likes it after signing up.
  const replay = await viewer.newPage();
  await replay.goto(`${BASE}${watchHref}`);
  await playing(replay);
  const full = await videoState(replay);
  assert.ok(full.duration > 10, `a replay of some length: ${full.duration}`);
  await replay.locator("body").click({ position: { x: 5, y: 5 } });
  await replay.keyboard.press("5");
  await until("seeked to the middle", async () => Math.abs((await videoState(replay)).t - full.duration / 2) < 3, 10_000);
  await shot(replay, "video");
  await until("one view counted", async () => {
    await replay.reload();
    return (await replay.getByTestId("view-count").textContent()).startsWith("1 view");
  }, 20_000, 1_000);

  const fan = await context();
  const fanPage = await fan.newPage();
  await signUp(fanPage, unique("fan"));
  await fanPage.goto(`${BASE}${watchHref}`);
  await fanPage.getByTestId("like").click();
  await until("the like counted", async () => (await fanPage.getByTestId("like").textContent()).includes("1"));
  assert.equal(await fanPage.getByTestId("like").getAttribute("aria-pressed"), "true");

  await studio.goto(`${BASE}/login`);
  await shot(studio, "login");
  for (const ctx of [streamer, viewer, fan]) assert.deepEqual(ctx.errors.filter((e) => !/Failed to load resource/.test(e)), []);
  await Promise.all([streamer.close(), viewer.close(), fan.close()]);
});

test("a private stream is not found by another user, plays for its owner, and survives a network drop", async () => {
  const owner = await context();
  const page = await owner.newPage();
  await signUp(page, unique("secret"));
  const streamId = await createStream(page, "Private rehearsal", "private");
  const fields = await obsFields(page);
  const encoder = publish(fields, 90);
  await until("live", async () => (await status(page)) === "live", 45_000);

  const other = await context();
  const theirs = await other.newPage();
  await signUp(theirs, unique("snoop"));
  await theirs.goto(`${BASE}/live/${streamId}`);
  await theirs.getByTestId("not-found").waitFor();
  // Positive control: the owner plays it, through the signed link the API hands out.
  const mine = await owner.newPage();
  await mine.goto(`${BASE}/live/${streamId}`);
  await playing(mine);
  // The network drops for 8 s (every media request fails): playback stalls,
  // then carries on by itself once the network is back, with no reload.
  await mine.route("**/cdn/**", (route) => route.abort("internetdisconnected"));
  await until("the stall", async () => {
    const a = (await videoState(mine)).t;
    await mine.waitForTimeout(1500);
    return (await videoState(mine)).t === a;
  }, 20_000, 0);
  await mine.waitForTimeout(3000);
  await mine.unroute("**/cdn/**");
  await playing(mine, 30_000);
  encoder.kill("SIGKILL");
  await Promise.all([owner.close(), other.close()]);
});
