// The renditions master playlist through hls.js in Debian's Chromium.
// Env: BASE (the daemon, http://127.0.0.1:port), PROFILE (a fresh
// user-data-dir), EXPECT (JSON: [{width, height, kbps}] of every variant,
// the program first; kbps is the video bitrate), AUDIO_KBPS, OUT (a JSON
// file for what the page saw: levels, fragments, errors).
// The page is served by Playwright at BASE/hls-renditions.html (same origin
// as /live/ and /vendor/hls.min.js, which the daemon serves).
'use strict';
const { check, launch, finish } = require('./lib');
const fs = require('fs');

const BASE = process.env.BASE;
const EXPECT = JSON.parse(process.env.EXPECT);
const AUDIO_KBPS = Number(process.env.AUDIO_KBPS || 128);

const PAGE = `<!doctype html><html><head><meta charset="utf-8">
<script src="/vendor/hls.min.js"></script></head>
<body><video id="video" muted playsinline width="640" height="360"></video>
<script>
  window.seen = { levels: null, frags: [], errors: [], switched: [] };
  const video = document.getElementById('video');
  if (window.Hls && Hls.isSupported()) {
    // capLevelToPlayerSize off: the test, not the element's size, picks levels
    const hls = new Hls({ liveSyncDurationCount: 2, enableWorker: true, capLevelToPlayerSize: false });
    window.hls = hls;
    hls.on(Hls.Events.MANIFEST_PARSED, () => {
      window.seen.levels = hls.levels.map((l) => ({
        width: l.width, height: l.height, bitrate: l.bitrate, averageBitrate: l.averageBitrate,
        videoCodec: l.videoCodec, audioCodec: l.audioCodec, url: String(l.url) }));
      video.play().catch((e) => window.seen.errors.push({ fatal: false, details: 'play(): ' + e }));
    });
    hls.on(Hls.Events.FRAG_LOADED, (ev, d) => {
      if (d.frag.type === 'main')
        window.seen.frags.push({ level: d.frag.level, sn: d.frag.sn, duration: d.frag.duration,
                                 bytes: d.frag.stats.total || d.frag.stats.loaded });
    });
    hls.on(Hls.Events.LEVEL_SWITCHED, (ev, d) => window.seen.switched.push(d.level));
    hls.on(Hls.Events.ERROR, (ev, d) => window.seen.errors.push({
      fatal: !!d.fatal, type: d.type, details: d.details, reason: d.reason ? String(d.reason) : '' }));
    hls.loadSource('/live/program.m3u8');
    hls.attachMedia(video);
  }
</script></body></html>`;

(async () => {
  const context = await launch({ autoplay: true });
  const page = context.pages()[0] || await context.newPage();
  page.setDefaultTimeout(60000);
  const pageErrors = [];
  page.on('pageerror', (e) => pageErrors.push(String(e)));
  await page.route(BASE + '/hls-renditions.html',
                   (route) => route.fulfill({ status: 200, contentType: 'text/html', body: PAGE }));
  let seen = null;
  try {
    await page.goto(BASE + '/hls-renditions.html');
    check(await page.evaluate(() => !!(window.Hls && window.Hls.isSupported())),
          'hls.js is served by the daemon and supported (MSE)');

    await page.waitForFunction(() => window.seen.levels !== null);
    const levels = await page.evaluate(() => window.seen.levels);
    check(levels.length === EXPECT.length, 'hls.js parsed ' + levels.length + ' levels, expected ' + EXPECT.length);
    for (const want of EXPECT) {
      const l = levels.find((x) => x.width === want.width && x.height === want.height);
      if (!check(!!l, 'a level of ' + want.width + 'x' + want.height)) continue;
      const nominal = (want.kbps + AUDIO_KBPS) * 1000;
      // BANDWIDTH is a peak: at least video + audio, at most twice that
      check(l.bitrate >= nominal && l.bitrate <= 2 * nominal,
            want.width + 'x' + want.height + ': BANDWIDTH ' + l.bitrate + ' for ' + want.kbps +
            ' + ' + AUDIO_KBPS + ' kbit/s');
      check(/^avc1\.[0-9a-f]{6}$/.test(l.videoCodec || ''), want.width + 'x' + want.height +
            ': video codec ' + l.videoCodec);
      check(l.audioCodec === 'mp4a.40.2', want.width + 'x' + want.height + ': audio codec ' + l.audioCodec);
    }

    // plays: several seconds of media time pass, with a picture
    await page.waitForFunction(() => document.getElementById('video').currentTime > 0.5);
    const t0 = await page.$eval('#video', (v) => v.currentTime);
    await page.waitForFunction((t) => document.getElementById('video').currentTime > t + 4, t0);
    const dims = await page.$eval('#video', (v) => [v.videoWidth, v.videoHeight]);
    check(dims[0] > 0 && dims[1] > 0, 'plays: currentTime advanced 4 s from ' + t0.toFixed(2) +
          ', picture ' + dims.join('x'));

    // every level in turn: the decoded picture takes that level's size
    for (let i = 0; i < levels.length; i++) {
      const { width, height } = levels[i];
      await page.evaluate((k) => { window.hls.currentLevel = k; }, i);
      try {
        await page.waitForFunction(([w, h]) => {
          const v = document.getElementById('video');
          return v.videoWidth === w && v.videoHeight === h;
        }, [width, height]);
        const t = await page.$eval('#video', (v) => v.currentTime);
        await page.waitForFunction((x) => document.getElementById('video').currentTime > x + 1.5, t);
        check(true, 'level ' + i + ': the picture is ' + width + 'x' + height + ' and keeps playing');
      } catch (e) {
        const now = await page.$eval('#video', (v) => [v.videoWidth, v.videoHeight, v.currentTime]);
        check(false, 'level ' + i + ': expected a ' + width + 'x' + height + ' picture, have ' +
              now[0] + 'x' + now[1] + ' at ' + now[2].toFixed(2) + ' s');
      }
    }

    seen = await page.evaluate(() => window.seen);
    // what each level cost as loaded (run_renditions.py checks every
    // segment against BANDWIDTH with the playlist's durations: hls.js moves
    // fragment boundaries to the parsed timestamps when it switches level)
    for (let i = 0; i < levels.length; i++) {
      const frags = seen.frags.filter((f) => f.level === i && f.duration > 0.5 && f.bytes > 0);
      if (!check(frags.length > 0, 'level ' + i + ': fragments loaded')) continue;
      const kbps = frags.map((f) => Math.round(f.bytes * 8 / f.duration / 1000));
      console.log('note: level ' + i + ' (' + levels[i].width + 'x' + levels[i].height + ', BANDWIDTH ' +
                  levels[i].bitrate + '): fragments at ' + kbps.join(' ') + ' kbit/s');
    }
    const fatal = seen.errors.filter((e) => e.fatal);
    check(fatal.length === 0, 'no fatal hls.js error' + (fatal.length ? ': ' + JSON.stringify(fatal) : ''));
    const other = seen.errors.filter((e) => !e.fatal);
    if (other.length)
      console.log('note: non-fatal hls.js events: ' + JSON.stringify(other.slice(0, 10)));
  } catch (e) {
    check(false, String(e).split('\n')[0]);
    seen = seen || await page.evaluate(() => window.seen).catch(() => null);
  }
  check(pageErrors.length === 0, 'no script errors' + (pageErrors.length ? ': ' + pageErrors.join('; ') : ''));
  if (process.env.OUT && seen)
    fs.writeFileSync(process.env.OUT, JSON.stringify(seen, null, 1));
  await context.close();
  finish();
})().catch((e) => {
  console.error(e);
  process.exit(1);
});
