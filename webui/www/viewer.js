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
    document.getElementById('dot').classList.toggle('on', !!rec.active);
    document.getElementById('live').textContent = LB.t(rec.active ? 'live_now' : 'offline');
  }
  const r = await LB.api('/api/v1/status');
  if (r.status === 200) show(r.data);
  LB.events((ev) => { if (ev.type === 'status') show(LB.statusOf(ev)); });
  LB.attachHls(document.getElementById('video'), '/live/program.m3u8');
})();
