// The real viewer page on low-latency HLS in Debian's Chromium.
// Env: BASE (the daemon, http://127.0.0.1:port), PROFILE (a fresh
// user-data-dir).  Prints the latency it measured; exits 1 on a failed check.
'use strict';
const { check, launch, finish } = require('./lib');

const BASE = process.env.BASE;

(async () => {
  const context = await launch({ autoplay: true });
  const page = context.pages()[0] || await context.newPage();
  page.setDefaultTimeout(60000);
  const requests = [];
  page.on('request', (r) => { if (r.url().includes('/live/')) requests.push(r.url()); });
  const pageErrors = [];
  page.on('pageerror', (e) => pageErrors.push(String(e)));
  try {
    await page.goto(BASE + '/viewer.html');
    await page.waitForFunction(() => {
      const v = document.getElementById('video');
      return v && v._hls && v.currentTime > 0.5;
    });
    const how = await page.$eval('#video', (v) => ({
      src: v.dataset.hlsSrc, lowLatencyMode: v._hls.config.lowLatencyMode,
      version: window.Hls && window.Hls.version }));
    check(how.src === '/live/program.ll.m3u8', 'the viewer page plays ' + how.src);
    check(how.lowLatencyMode === true, 'hls.js ' + how.version + ' in lowLatencyMode');

    // Let it settle at its target, then sample for a while (polls, no
    // timing asserted: the machine is shared).
    const t0 = await page.$eval('#video', (v) => v.currentTime);
    await page.waitForFunction((t) => document.getElementById('video').currentTime > t + 3, t0,
                               { timeout: 120000 });
    const samples = [];
    for (let i = 0; i < 8; i++) {
      samples.push(await page.$eval('#video', (v) => {
        const h = v._hls;
        const pd = h.playingDate;
        return { latency: h.latency, target: h.targetLatency, rate: v.playbackRate,
                 behindWall: pd ? (Date.now() - pd.getTime()) / 1000 : null,
                 t: v.currentTime, w: v.videoWidth };
      }));
      await page.waitForTimeout(500);
    }
    const last = samples[samples.length - 1];
    check(last.t > samples[0].t + 2, 'plays: media time ' + samples[0].t.toFixed(2) + ' -> ' +
          last.t.toFixed(2) + ' s over 4 s, picture width ' + last.w);
    const med = (xs) => { const s = xs.filter((x) => x !== null).sort((a, b) => a - b);
                          return s.length ? s[Math.floor(s.length / 2)] : NaN; };
    const lat = med(samples.map((s) => s.latency));
    const wall = med(samples.map((s) => s.behindWall));
    console.log('MEASURED hls.js latency (live edge) median ' + lat.toFixed(2) + ' s, target ' +
                (last.target || 0).toFixed(2) + ' s; wall clock - PROGRAM-DATE-TIME of the frame ' +
                'shown median ' + wall.toFixed(2) + ' s; samples: ' +
                samples.map((s) => s.latency.toFixed(2)).join(' '));
    // loose: plain HLS with this playlist sits 4-6 s back
    check(lat < 3.5, 'latency to the live edge ' + lat.toFixed(2) + ' s (goal <= 2 s; bound 3.5 s)');
    const blocking = requests.filter((u) => /program\.ll\.m3u8\?.*_HLS_msn=\d+/.test(u));
    const parts = requests.filter((u) => /program-ll-\d+\.\d+\.m4s/.test(u));
    check(blocking.length >= 5, blocking.length + ' blocking playlist reloads (_HLS_msn), e.g. ' +
          (blocking[blocking.length - 1] || '').replace(BASE, ''));
    check(parts.length >= 5, parts.length + ' parts loaded, e.g. ' +
          (parts[parts.length - 1] || '').replace(BASE, ''));
    check(!requests.some((u) => /\/live\/program\.m3u8/.test(u)),
          'the MPEG-TS playlist was not used');
    check(pageErrors.length === 0, 'no page errors ' + pageErrors.join('; '));
  } catch (e) {
    check(false, 'viewer page: ' + e);
  } finally {
    await context.close();
  }
  finish();
})();
