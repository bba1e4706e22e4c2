/* The live lesson, for anyone allowed to watch (public when configured). */
'use strict';
(async () => {
  const s = await LB.loadSession();
  if (s && s.authenticated) LB.renderHeader(s);
  else if (!(s && s.public_viewer)) {
    location.href = '/index.html?next=/viewer.html';
    return;
  }
  const $ = (id) => document.getElementById(id);
  let playing = false;
  let rec = {};
  let nextLive = null;

  // The lesson's title, teacher and subject while one is recorded; the
  // state in words (live / not live), and offline the timetable's next
  // live lesson when the recorder knows one (status' next_live).
  function render() {
    const active = !!rec.active;
    $('title').textContent = (active && rec.title) || LB.t(playing ? 'live_now' : 'live_offline');
    const meta = active ? [rec.teacher, rec.subject || rec.course].filter(Boolean) : [];
    $('meta').textContent = meta.join(' · ');
    $('meta').hidden = !meta.length;
    const live = playing;
    $('dot').classList.toggle('on', live);
    $('live').textContent = LB.t(live ? 'live_now' : 'offline');
    document.body.classList.toggle('is-live', live);
    const n = !live && nextLive;
    $('next').hidden = !n;
    if (n) {
      const who = [n.teacher, n.subject].filter(Boolean).join(' · ');
      $('next').textContent = LB.t('next_live') + ' ' + LB.fmtClock(n.start_s, n.timezone) + ' ' + (n.title || '') +
        (who ? ' (' + who + ')' : '');
    }
  }
  function show(st) {
    rec = (st && st.recording) || {};
    if (st && 'next_live' in st) nextLive = st.next_live;
    render();
  }
  // "Live" is what the viewer sees: the stream playing, recorded or not.
  const video = $('video');
  const setLive = (on) => { playing = on; render(); };
  video.addEventListener('playing', () => setLive(true));
  for (const ev of ['waiting', 'stalled', 'error', 'emptied']) video.addEventListener(ev, () => setLive(false));
  // Browsers start the sound muted: say how to hear it, until it is on.
  const hint = $('unmute-hint');
  const showHint = () => { hint.hidden = !video.muted; };
  video.addEventListener('volumechange', showHint);
  hint.addEventListener('click', () => { video.muted = false; showHint(); video.play().catch(() => {}); });
  showHint();
  async function poll() {
    const r = await LB.api('/api/v1/status');
    if (r.status !== 200) return;
    // an operator's status is the whole one, without next_live: the
    // schedule itself then (viewers may read it too)
    if (!('next_live' in r.data) && s && s.authenticated) {
      const sc = await LB.api('/api/v1/schedule');
      const n = sc.status === 200 && sc.data && sc.data.next;
      nextLive = n && n.live !== false ? Object.assign({ timezone: sc.data.timezone }, n) : null;
    }
    show(r.data);
  }
  await poll();
  setInterval(poll, 60000);       // next_live is in the status of the GET only
  LB.events((ev) => { if (ev.type === 'status') show(LB.statusOf(ev)); });
  LB.onLang(render);
  LB.attachHls(video, '/live/program.m3u8');
})();
