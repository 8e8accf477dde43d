// Glass-to-glass latency and time to first frame in Chromium with the web
// app's player, for `make bench` (tests/src/bin/bench_web.rs runs it).
//
// Input (env): SKYCAST_LATENCY_PAGES, a JSON list of {name, url}; each page
// is opened LOADS times: time to first frame (navigation start to the first
// frame shown), then, once settled, latency sampled every 500 ms for 3 s:
// the viewer's clock minus the EXT-X-PROGRAM-DATE-TIME of the
// frame on screen (the player keeps it, and when it read it, in <video data-program-date(-at)>).
// Output: one JSON line per page, {name, first_frame_ms: [...], latency_ms: [...]}.
import { chromium } from "playwright-core";

const pages = JSON.parse(process.env.SKYCAST_LATENCY_PAGES ?? "[]");
const LOADS = Number(process.env.LOADS ?? 8);
const SETTLE_MS = 3000;
const SAMPLES = 6;

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM ?? "/usr/bin/chromium",
  args: ["--no-sandbox", "--autoplay-policy=no-user-gesture-required", "--mute-audio"],
});
try {
  for (const { name, url } of pages) {
    // Each load joins the live edge at its own phase against the segment
    // clock, which sets that viewer's latency for good: so every load
    // counts, first frame and a few seconds of latency each.
    const firstFrame = [];
    const latency = [];
    for (let i = 0; i < LOADS; i++) {
      const ctx = await browser.newContext();
      const page = await ctx.newPage();
      await page.goto(url);
      const ms = await page.waitForFunction(
        () => {
          const v = document.querySelector("video");
          return v && v.currentTime > 0 && !v.paused && v.readyState >= 2 ? performance.now() : null;
        },
        null,
        { timeout: 30_000, polling: 10 },
      );
      firstFrame.push(Math.round(await ms.jsonValue()));
      await page.waitForTimeout(SETTLE_MS);
      for (let j = 0; j < SAMPLES; j++) {
        latency.push(
          await page.evaluate(() => {
            // When the player last looked, and the date of the frame it showed.
            const v = document.querySelector("video");
            return Number(v.dataset.programDateAt) - Number(v.dataset.programDate);
          }),
        );
        await page.waitForTimeout(500);
      }
      await ctx.close();
    }
    console.log(JSON.stringify({ name, first_frame_ms: firstFrame, latency_ms: latency }));
  }
} finally {
  await browser.close();
}
