// Glass-to-glass latency and time to first frame in Chromium with the web
// app's player, for `make bench` (tests/src/bin/bench_web.rs runs it).
//
// Input (env): SKYCAST_LATENCY_PAGES, a JSON list of {name, url}; each page
// is opened LOADS times: time to first frame (navigation start to the first
// frame shown), then, once settled, latency sampled every 500 ms for 3 s.
// Latency is read off the picture: the publisher draws its wall clock (Unix
// ms mod 2^24) as 24 black or white squares, 32 px each, along the top of a
// 1280-wide frame (tests/src/bin/bench_web.rs, `source`); a frame is read
// when it is presented (requestVideoFrameCallback), and its latency is the
// time it is shown minus the time drawn in it: glass to glass.
// Output: one JSON line per page, {name, first_frame_ms: [...], latency_ms: [...]}.
import { chromium } from "playwright-core";

const pages = JSON.parse(process.env.SKYCAST_LATENCY_PAGES ?? "[]");
const LOADS = Number(process.env.LOADS ?? 8);
const SETTLE_MS = 3000;
const SAMPLES = 6;

/** In the page: the next presented frame's latency, or null where a square
 * is neither black nor white (a frame the encoder smeared). */
function readClock() {
  return new Promise((resolve) => {
    const v = document.querySelector("video");
    v.requestVideoFrameCallback((_now, meta) => {
      const scale = v.videoWidth / 1280;
      const c = document.createElement("canvas");
      c.width = v.videoWidth;
      c.height = Math.ceil(32 * scale);
      const g = c.getContext("2d", { willReadFrequently: true });
      g.drawImage(v, 0, 0);
      const px = g.getImageData(0, 0, c.width, c.height).data;
      let drawn = 0;
      for (let i = 0; i < 24; i++) {
        const x = Math.round((32 * i + 16) * scale);
        const y = Math.round(16 * scale);
        const o = (y * c.width + x) * 4;
        const luma = (px[o] + px[o + 1] + px[o + 2]) / 3;
        if (luma > 60 && luma < 195) return resolve(null);
        if (luma >= 195) drawn += 2 ** i;
      }
      const wrap = 2 ** 24;
      const shown = Math.round(performance.timeOrigin + meta.expectedDisplayTime) % wrap;
      resolve((shown - drawn + wrap) % wrap);
    });
  });
}

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
        const ms = await page.evaluate(readClock);
        if (ms !== null) latency.push(ms);
        await page.waitForTimeout(500);
      }
      await ctx.close();
    }
    console.log(JSON.stringify({ name, first_frame_ms: firstFrame, latency_ms: latency }));
  }
} finally {
  await browser.close();
}
