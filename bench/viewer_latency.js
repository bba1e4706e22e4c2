// bench/run's viewer section: how far behind capture a viewer and an
// operator see the lesson, read from the pictures themselves.  The screen
// camera burns the wall clock of the moment each frame is made into its
// top-left strip (44 bits of milliseconds, 32 px a bit, bench.py's
// barcode_graph); the page draws what it shows onto a canvas and reads it.
//   1. the viewer page (/viewer.html: hls.js in lowLatencyMode on NAME.ll.m3u8)
//   2. the same page with hls.js on the plain playlist (program.m3u8, defaults)
//   3. the console's program preview (snapshot.jpg, fetched one at a time at
//      most 5 a second, as console.js does), after logging in
// Env: BASE, PROFILE, PASSWORD (admin's), SECONDS (sampling per part).
// Prints one JSON line per part: {"part":..., "delays_ms":[...], ...}.
'use strict';
const { chromium } = require('playwright-core');

const BASE = process.env.BASE;
const SECONDS = Number(process.env.SECONDS || 20);

// In the page: the stamp in the strip of what `src` shows, or null.
const READ = `(src, w, h) => {
  const c = window.__lbCanvas || (window.__lbCanvas = document.createElement('canvas'));
  const s = w / 1920;
  c.width = Math.ceil(1408 * s); c.height = Math.ceil(32 * s);
  const g = c.getContext('2d', { willReadFrequently: true });
  g.drawImage(src, 0, 0, c.width, c.height, 0, 0, c.width, c.height);
  const px = g.getImageData(0, 0, c.width, c.height).data;
  let v = 0;
  for (let i = 0; i < 44; i++) {
    const x = Math.min(c.width - 1, Math.round((32 * i + 16) * s)), y = Math.round(16 * s);
    if (px[(y * c.width + x) * 4] > 128) v += Math.pow(2, i);
  }
  const now = Date.now();
  return Math.abs(now - v) < 600000 ? now - v : null;
}`;

async function sampleVideo(page, seconds) {
  const out = [];
  const end = Date.now() + seconds * 1000;
  while (Date.now() < end) {
    const d = await page.evaluate(`(${READ})(document.getElementById('video'),
        document.getElementById('video').videoWidth, document.getElementById('video').videoHeight)`);
    if (d !== null) out.push(d);
    await page.waitForTimeout(200);
  }
  return out;
}

(async () => {
  const context = await chromium.launchPersistentContext(process.env.PROFILE, {
    executablePath: '/usr/bin/chromium', headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
           '--disable-background-networking', '--disable-component-update', '--disable-sync',
           '--autoplay-policy=no-user-gesture-required'],
  });
  const page = context.pages()[0] || await context.newPage();
  page.setDefaultTimeout(120000);
  try {
    // 1. low-latency HLS, as a viewer opens it
    await page.goto(BASE + '/viewer.html');
    await page.waitForFunction(() => {
      const v = document.getElementById('video');
      return v && v._hls && v.currentTime > 3;
    });
    const ll = await sampleVideo(page, SECONDS);
    const hlsjs = await page.evaluate(() => ({ version: window.Hls && window.Hls.version,
      src: document.getElementById('video').dataset.hlsSrc,
      target: document.getElementById('video')._hls.targetLatency }));
    console.log(JSON.stringify({ part: 'llhls', delays_ms: ll, hlsjs }));

    // 2. plain HLS in the same page: hls.js with its defaults (3 segments back)
    await page.evaluate(() => {
      const v = document.getElementById('video');
      v._hls.destroy();
      const h = new window.Hls();
      v._hls = h;
      h.loadSource('/live/program.m3u8');
      h.attachMedia(v);
      v.play().catch(() => {});
      window.__plainStart = v.currentTime;
    });
    await page.waitForFunction(() => {
      const v = document.getElementById('video');
      return v.currentTime > 3 && !v.paused && v.readyState >= 3;
    });
    await page.waitForTimeout(3000);
    const plain = await sampleVideo(page, SECONDS);
    console.log(JSON.stringify({ part: 'hls', delays_ms: plain }));

    // 3. the console's program preview, logged in
    await page.goto(BASE + '/');
    await page.waitForSelector('#login:not(.hidden)');
    await page.fill('#user', 'admin');
    await page.fill('#password', process.env.PASSWORD);
    await page.click('#login-button');
    await page.waitForURL(/console\.html/);
    const prev = await page.evaluate(`(async () => {
      const read = ${READ};
      const out = [];
      const end = Date.now() + ${SECONDS * 1000};
      while (Date.now() < end) {
        const t0 = Date.now();
        const r = await fetch('/api/v1/sources/program/snapshot.jpg', { cache: 'no-store' });
        if (r.ok) {
          const img = await createImageBitmap(await r.blob());
          const d = read(img, img.width, img.height);
          if (d !== null) out.push(d);
        }
        await new Promise((ok) => setTimeout(ok, Math.max(0, 200 - (Date.now() - t0))));
      }
      return out;
    })()`);
    console.log(JSON.stringify({ part: 'preview', delays_ms: prev }));
  } catch (e) {
    console.log(JSON.stringify({ error: String(e) }));
    process.exitCode = 1;
  } finally {
    await context.close();
  }
})();
