// The session relay (issue 14) in a real browser against the real local
// stack: the client page streams Chromium's fake camera and microphone
// (MediaRecorder, WebM over a WebSocket); operator consoles play it with
// MediaSource, one from the start and one joining late (the relay's header
// replay, then media from mid-stream); the session ends for everyone.
// Base URL and screenshots as in app.test.mjs (helpers.mjs).
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { BASE, DESKTOP, launch, newContext, shot, signUp, unique, until } from "./helpers.mjs";

let browser;

before(async () => {
  // A fake camera (a moving test pattern) and microphone, allowed without asking.
  browser = await launch(["--use-fake-device-for-media-stream", "--use-fake-ui-for-media-stream"]);
});

after(async () => {
  await browser?.close();
});

const text = async (page, testid) => ((await page.getByTestId(testid).textContent()) ?? "").trim();

/** The console's picture: its size and time. */
const picture = (page) => page.getByTestId("console-video").evaluate((v) => ({ w: v.videoWidth, t: v.currentTime }));

/** Waits until the console on `page` shows a moving picture (a frame, then a
 * second of playback); returns the ms from `since` to the first frame. */
async function moving(page, since, ms = 30_000) {
  const first = await until("a first frame", async () => {
    const p = await picture(page);
    return p.w > 0 && p.t > 0 ? p : null;
  }, ms, 50);
  const firstFrameMs = Date.now() - since;
  await until("the picture to move on by a second", async () => (await picture(page)).t >= first.t + 1, ms);
  return firstFrameMs;
}

test("a client streams its camera through a session; operators watch it live, a late one too, until it ends", async () => {
  const ctx = await newContext(browser, DESKTOP, { permissions: ["camera", "microphone"] });
  const client = await ctx.newPage();
  await signUp(client, unique("relay"));
  await client.goto(`${BASE}/relay`);
  await client.getByTestId("relay-start").click();
  await until("the client to be live", async () => (await text(client, "relay-status")).startsWith("Live"));
  await until("the camera's preview", () => client.getByTestId("relay-preview").evaluate((v) => v.videoWidth > 0));
  const link = client.getByTestId("relay-operator-link");
  const href = await link.getAttribute("href");
  assert.match(href, /^\/relay\/[^/]+$/);
  assert.equal(await link.getAttribute("target"), "_blank", "the console opens beside the client, which keeps streaming");

  // An operator (the session's creator, in another tab) from the start.
  const operator = await ctx.newPage();
  const opened = Date.now();
  await operator.goto(`${BASE}${href}`);
  const firstMs = await moving(operator, opened);
  console.log(`operator console: first frame ${firstMs} ms after opening it`);
  await until("the console to say live", async () => (await text(operator, "console-status")) === "Live");
  await until("the client to count its operator", async () => /1 operator has joined/.test(await text(client, "relay-status")));
  await shot(operator, "relay-console");
  await shot(client, "relay-client");

  // Five seconds of stream later, a late joiner: the header first, then
  // media from the middle of the stream. The same user in a third tab: a
  // second operator socket of its own, while the first console plays on.
  const t = (await picture(operator)).t;
  await until("five more seconds of stream", async () => (await picture(operator)).t >= t + 5, 30_000);
  const late = await ctx.newPage();
  const lateOpened = Date.now();
  await late.goto(`${BASE}${href}`);
  const lateMs = await moving(late, lateOpened);
  console.log(`late-joining operator console: first frame ${lateMs} ms after opening it`);
  const still = (await picture(operator)).t;
  await until("the first console to play on beside it", async () => (await picture(operator)).t >= still + 1, 10_000);
  assert.equal(await text(operator, "console-status"), "Live");

  // Text from an operator reaches the client.
  await late.getByRole("textbox", { name: "Message to the client" }).fill("Hello from the console");
  await late.getByRole("button", { name: "Send" }).click();
  await client.getByTestId("relay-log").getByText("Hello from the console").waitFor({ timeout: 10_000 });

  // The client ends the session: every page says so, and the camera is off.
  await client.getByTestId("relay-end").click();
  for (const [page, testid] of [
    [client, "relay-status"],
    [late, "console-status"],
    [operator, "console-status"],
  ]) {
    await until(`${testid} to say finished`, async () => /finished/i.test(await text(page, testid)), 20_000);
  }
  // The close says "finished"; the console then asks the API why.
  await until("the console to say why", async () => /ended by its creator/.test(await text(late, "console-status")), 10_000);
  const cameraOn = await client.evaluate(() => {
    const s = document.querySelector("[data-testid=relay-preview]").srcObject;
    return !!s && s.getTracks().some((track) => track.readyState === "live");
  });
  assert.equal(cameraOn, false, "the camera and microphone are released");
  assert.deepEqual(ctx.errors.filter((e) => !/Failed to load resource/.test(e)), []);
  await ctx.close();
});
