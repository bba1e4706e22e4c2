/* The live lesson, for anyone allowed to watch (public when configured). */
'use strict';
(async () => {
  const s = await LB.loadSession();
  if (s && s.authenticated) LB.renderHeader(s);
  else if (!(s && s.public_viewer)) {
    location.href = '/index.html?next=/viewer.html';
    return;
  }
  function show(st) {
    const rec = (st && st.recording) || {};
    document.getElementById('title').textContent = rec.title || 'luobo';
    document.getElementById('course').textContent = rec.course || '';
    document.getElementById('teacher').textContent = rec.teacher || '';
  }
  // "Live" is what the viewer sees: the stream playing, recorded or not.
  const video = document.getElementById('video');
  const setLive = (on) => {
    document.getElementById('dot').classList.toggle('on', on);
    document.getElementById('live').textContent = LB.t(on ? 'live_now' : 'offline');
  };
  video.addEventListener('playing', () => setLive(true));
  for (const ev of ['waiting', 'stalled', 'error', 'emptied']) video.addEventListener(ev, () => setLive(false));
  const r = await LB.api('/api/v1/status');
  if (r.status === 200) show(r.data);
  LB.events((ev) => { if (ev.type === 'status') show(LB.statusOf(ev)); });
  LB.attachHls(video, '/live/program.m3u8');
})();
