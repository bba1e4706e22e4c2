/* luobo web UI: what every page shares (language, API calls with the CSRF
 * token, the events socket, live video, formatting). Plain ES2017. */
'use strict';

const LB = (() => {
  const STR = LB_STR;
  /* The language: the one chosen with the header's switch (localStorage,
   * and a cookie so the server could know it), else the browser's.  A
   * logged-in user's choice is also kept in their record on the server
   * (PUT /api/v1/me), which the session brings to any browser at login. */
  const LANG_KEY = 'lb_lang';
  function storedLang() {
    let v = null;
    try { v = localStorage.getItem(LANG_KEY); } catch (e) { v = null; }
    if (!v) {
      const m = document.cookie.match(/(?:^|;\s*)lb_lang=(zh|en)\b/);
      v = m ? m[1] : null;
    }
    return v === 'zh' || v === 'en' ? v : null;
  }
  let lang = storedLang() || ((navigator.language || 'en').toLowerCase().startsWith('zh') ? 'zh' : 'en');
  const locale = () => (lang === 'zh' ? 'zh-CN' : 'en');
  document.documentElement.lang = locale();
  const has = (key) => STR[lang][key] !== undefined || STR.en[key] !== undefined;
  const t = (key) => (STR[lang][key] !== undefined ? STR[lang][key] : STR.en[key] !== undefined ? STR.en[key] : key);
  /* A template with {name} parameters: tf('disk_line', {free: '1 GB'}). */
  const tf = (key, params) => String(t(key)).replace(/\{(\w+)\}/g, (m, k) =>
    (params && params[k] !== undefined && params[k] !== null ? String(params[k]) : m));
  /* A value of a fixed set (a role, a state, a kind): its word in this
   * language when the table has one, else the value as the server said it. */
  const tv = (prefix, value) => {
    if (value === undefined || value === null || value === '') return '–';
    return has(prefix + value) ? t(prefix + value) : String(value);
  };

  function applyI18n(root) {
    (root || document).querySelectorAll('[data-i18n]').forEach((el) => {
      el.textContent = t(el.dataset.i18n);
    });
    (root || document).querySelectorAll('[data-i18n-placeholder]').forEach((el) => {
      el.placeholder = t(el.dataset.i18nPlaceholder);
    });
    (root || document).querySelectorAll('[data-i18n-title]').forEach((el) => {
      el.title = t(el.dataset.i18nTitle);
    });
    (root || document).querySelectorAll('[data-i18n-aria]').forEach((el) => {
      el.setAttribute('aria-label', t(el.dataset.i18nAria));
    });
  }

  /* Pages re-render what they drew with t() when the language changes:
   * LB.onLang(fn). A page that registers nothing is reloaded instead. */
  const langHandlers = [];
  const onLang = (fn) => { langHandlers.push(fn); };
  function rememberLang(l) {
    if (l !== 'zh' && l !== 'en') return;
    try { localStorage.setItem(LANG_KEY, l); } catch (e) { /* private mode: the cookie stays */ }
    document.cookie = 'lb_lang=' + l + '; Path=/; Max-Age=31536000; SameSite=Strict';
  }
  function setLang(l) {
    if (l !== 'zh' && l !== 'en') return;
    rememberLang(l);
    if (l === lang) return;
    lang = l;
    document.documentElement.lang = locale();
    applyI18n();
    renderLangSwitch();
    if (session) renderHeader(session);
    if (!langHandlers.length) { location.reload(); return; }
    for (const fn of langHandlers) {
      try { fn(lang); } catch (e) { console.error(e); }
    }
    window.dispatchEvent(new CustomEvent('lb-lang', { detail: lang }));
  }

  /* The switch: this browser, and the user's record when logged in (a
   * session, not an API token), stored before a page without handlers
   * reloads. */
  async function chooseLang(l) {
    if (session && session.authenticated && session.lang !== l && !String(session.user).startsWith('token:')) {
      const r = await api('/api/v1/me', { method: 'PUT', body: { lang: l } });
      if (r.status === 200) session.lang = l;
    }
    setLang(l);
  }

  /* 中文 | English in the header of every page, each in its own language. */
  function renderLangSwitch() {
    const header = document.querySelector('header.top');
    if (!header) return;
    let box = header.querySelector('.lang-switch');
    if (!box) {
      box = document.createElement('div');
      box.className = 'lang-switch';
      box.setAttribute('role', 'group');
      for (const [l, label] of [['zh', '中文'], ['en', 'English']]) {
        const b = document.createElement('button');
        b.type = 'button';
        b.className = 'lang-' + l;
        b.lang = l === 'zh' ? 'zh-CN' : 'en';
        b.dataset.lang = l;
        b.textContent = label;
        b.addEventListener('click', () => chooseLang(l));
        box.appendChild(b);
      }
      header.appendChild(box);
    }
    box.setAttribute('aria-label', t('language'));
    box.querySelectorAll('button').forEach((b) => {
      b.setAttribute('aria-pressed', b.dataset.lang === lang ? 'true' : 'false');
    });
  }

  /* The director's reason ({reason, reasons}) in this language: each part
   * by its code (reason_CODE), the server's English for a part without. */
  function reasonText(d) {
    if (!d) return '–';
    if (!Array.isArray(d.reasons) || !d.reasons.length) return d.reason ? d.reason : '–';
    return d.reasons.map((r) => {
      if (!r.code || !has('reason_' + r.code)) return r.text || r.code || '';
      const p = Object.assign({}, r.params || {});
      if (p.role) p.role = tv('srole_', p.role);
      if (p.mic) p.mic = labelOf(p.mic);
      if (p.source) p.source = labelOf(p.source);
      if (p.who) p.who = tv('reason_who_', p.who);
      for (const k of ['dbfs', 'presence', 'motion', 'age_s', 'marks_pct', 'window_s', 'last_s', 'seen_s', 'after_s']) {
        if (p[k] !== undefined && p[k] !== '' && !isNaN(Number(p[k]))) p[k] = fmtNum(p[k]);
      }
      return tf('reason_' + r.code, p);
    }).filter(Boolean).join(t('reason_sep'));
  }

  /* A chapter's title: the director's "Slide 9" by its code. */
  const chapterText = (ch) => (ch && ch.code && has('chapter_' + ch.code) ? tf('chapter_' + ch.code, ch.params)
    : (ch && ch.title) || '');

  /* A server error ({"error", "code", "params"}) in this language: by its
   * code when the table has it, else the server's English text. */
  function errText(r) {
    const d = r && r.data !== undefined ? r.data : r;
    if (d && d.code && has('err_' + d.code)) {
      const p = Object.assign({}, d.params || {});
      if (p.state) p.state = tv('state_', p.state);
      return tf('err_' + d.code, p);
    }
    if (d && d.error) return d.error;
    return r && r.status !== undefined ? (r.status ? 'HTTP ' + r.status : t('err_network')) : '';
  }

  let session = null;

  async function api(path, opts) {
    opts = opts || {};
    const headers = {};
    const init = { method: opts.method || 'GET', headers, credentials: 'same-origin' };
    if (opts.body !== undefined) {
      headers['Content-Type'] = 'application/json';
      init.body = JSON.stringify(opts.body);
    }
    if (init.method !== 'GET' && session && session.csrf) headers['X-CSRF-Token'] = session.csrf;
    let res;
    try {
      res = await fetch(path, init);
    } catch (e) {
      return { status: 0, data: { error: String(e) } };
    }
    let data = null;
    const text = await res.text();
    try { data = text ? JSON.parse(text) : null; } catch (e) { data = { error: text }; }
    return { status: res.status, data };
  }

  const RANK = { viewer: 1, teacher: 2, operator: 3, admin: 4 };
  const allows = (role, need) => (RANK[role] || 0) >= (RANK[need] || 0);

  function homeFor(role) {
    if (allows(role, 'operator')) return '/console.html';
    if (role === 'teacher') return '/teacher.html';
    return '/viewer.html';
  }

  async function loadSession() {
    const r = await api('/api/v1/session');
    session = r.status === 200 ? r.data : null;
    // the user's own choice, from any browser, over this browser's
    if (session && session.authenticated && (session.lang === 'zh' || session.lang === 'en') &&
        session.lang !== lang) setLang(session.lang);
    return session;
  }

  /* Resolves with the session, or sends the browser to the login page. */
  async function requireSession(need) {
    const s = await loadSession();
    if (!s || !s.authenticated) {
      location.href = '/index.html?next=' + encodeURIComponent(location.pathname);
      return new Promise(() => {});
    }
    if (need && !allows(s.role, need)) {
      location.href = homeFor(s.role);
      return new Promise(() => {});
    }
    renderHeader(s);
    return s;
  }

  /* An operator or admin on plain HTTP from another machine: the server
   * says so (insecure_transport), the page says it out loud. */
  function renderInsecure(s) {
    const header = document.querySelector('header.top');
    let banner = document.getElementById('insecure-banner');
    const show = s && s.authenticated && s.insecure_transport && allows(s.role, 'operator');
    if (!show || !header) {
      if (banner) banner.remove();
      return;
    }
    if (!banner) {
      banner = document.createElement('div');
      banner.id = 'insecure-banner';
      banner.className = 'insecure-banner';
      banner.setAttribute('role', 'alert');
      header.after(banner);
    }
    banner.textContent = '⚠ ' + t('insecure_transport');
  }

  function renderHeader(s) {
    renderInsecure(s);
    const nav = document.querySelector('header.top nav');
    if (!nav) return;
    const links = [];
    if (s && s.authenticated) {
      if (allows(s.role, 'teacher')) links.push(['/teacher.html', 'nav_teacher']);
      if (allows(s.role, 'operator')) links.push(['/console.html', 'nav_console']);
      if (allows(s.role, 'operator')) links.push(['/recordings.html', 'nav_recordings']);
      if (allows(s.role, 'operator')) links.push(['/timetable.html', 'nav_timetable']);
      links.push(['/viewer.html', 'nav_viewer']);
      if (allows(s.role, 'admin')) links.push(['/admin.html', 'nav_admin']);
    }
    nav.textContent = '';
    for (const [href, key] of links) {
      const a = document.createElement('a');
      a.href = href;
      a.textContent = t(key);
      if (location.pathname === href) a.className = 'here';
      nav.appendChild(a);
    }
    const who = document.querySelector('header.top .who');
    if (who) {
      who.textContent = '';
      if (s && s.authenticated) {
        // my account: my password, my sessions
        const me = document.createElement('a');
        me.href = '/account.html';
        me.id = 'account-link';
        me.title = t('my_account');
        me.textContent = s.user;
        if (location.pathname === '/account.html') me.className = 'here';
        who.append(me, ' · ' + tv('urole_', s.role) + ' · ');
        const out = document.createElement('a');
        out.href = '#';
        out.id = 'logout';
        out.textContent = t('logout');
        out.addEventListener('click', async (e) => {
          e.preventDefault();
          await api('/api/v1/logout', { method: 'POST', body: {} });
          location.href = '/index.html';
        });
        who.appendChild(out);
      }
    }
  }

  /* The events socket, reconnecting with backoff; onEvent gets objects. */
  function events(onEvent, onState) {
    let backoff = 500;
    let ws = null;
    function open() {
      const proto = location.protocol === 'https:' ? 'wss:' : 'ws:';
      ws = new WebSocket(proto + '//' + location.host + '/api/v1/events');
      ws.onopen = () => { backoff = 500; if (onState) onState(true); };
      ws.onmessage = (m) => {
        let ev;
        try { ev = JSON.parse(m.data); } catch (e) { return; }
        onEvent(ev);
      };
      ws.onclose = () => {
        if (onState) onState(false);
        setTimeout(open, backoff);
        backoff = Math.min(backoff * 2, 5000);
      };
    }
    open();
    return () => ws;
  }

  /* Alerts (GET /api/v1/alerts, "alert" events): said in the page's
   * language from the alert's code, subject and params; the server's
   * English message is the fallback for a code this page does not know. */
  const ALERT_TEXT = {
    en: {
      mic_silent: 'Microphone “{s}” has been silent for {t} s — is it switched on?',
      mic_clipping: 'Microphone “{s}” is too loud and distorts — turn its gain down.',
      mic_lost: 'Microphone “{s}” gives no sound — is it connected?',
      camera_lost: 'Camera “{s}” gives no picture — is it connected?',
      camera_black: 'Camera “{s}” has shown a black picture for {t} s — is its lens covered?',
      camera_frozen: 'Camera “{s}” has shown the same still picture for {t} s — it may have frozen.',
      substream_lost: 'Camera “{s}”: its sub-stream gives no picture.',
      av_drift: 'Microphone “{s}”: sound and picture may be out of sync.',
      output_down: 'Live output “{s}” has been disconnected for {t} s.',
      upload_failing: 'Uploads to “{s}” keep failing.',
      disk_low: 'The disk holds only {v} h more recording; {t} h are needed.',
      overload: 'The recorder is falling behind real time.',
      clock_unsynced: 'The system clock is not synchronised.',
      schedule_start_failed: 'The timetable lesson “{s}” could not start: {d} — it is tried again while its time lasts.',
    },
    zh: {
      mic_silent: '麦克风“{s}”已经 {t} 秒没有声音——是否已打开？',
      mic_clipping: '麦克风“{s}”音量过大、声音失真——请调低增益。',
      mic_lost: '麦克风“{s}”没有信号——是否已连接？',
      camera_lost: '摄像机“{s}”没有画面——是否已连接？',
      camera_black: '摄像机“{s}”已经 {t} 秒是黑画面——镜头是否被遮挡？',
      camera_frozen: '摄像机“{s}”的画面已经 {t} 秒没有变化——可能已卡住。',
      substream_lost: '摄像机“{s}”的子码流没有画面。',
      av_drift: '麦克风“{s}”：声音和画面可能不同步。',
      output_down: '直播输出“{s}”已断开 {t} 秒。',
      upload_failing: '上传到“{s}”一再失败。',
      disk_low: '磁盘只够再录 {v} 小时，需要 {t} 小时。',
      overload: '录播机处理不过来，落后于实时。',
      clock_unsynced: '系统时钟未同步。',
      schedule_start_failed: '课表中的课程“{s}”无法开始录制：{d}——在其时间内会继续重试。',
    },
  };
  /* A camera's or mic's label (label = 讲台) by its NAME, from the status
   * a page passes to noteLabels(); the NAME where none is known. */
  const labels = new Map();
  function noteLabels(st) {
    for (const k of ['sources', 'mics']) for (const x of (st && st[k]) || []) if (x.label) labels.set(x.name, x.label);
  }
  const labelOf = (name) => labels.get(name) || name;

  function alertText(a) {
    const tpl = ALERT_TEXT[lang][a.alert];
    if (!tpl) return a.message || a.alert;
    const p = a.params || {};
    // One pass, each value by a function: a title or label holding "{d}"
    // or "$'" is text, not more of the template.
    const vals = {
      s: p.label || labelOf(a.subject), d: p.detail || '',
      t: p.threshold !== undefined ? p.threshold : '',
      v: p.value !== undefined ? Number(p.value).toFixed(1) : '?',
    };
    return tpl.replace(/\{([sdtv])\}/g, (m, k) => String(vals[k]));
  }

  /* The raised alerts, kept from GET /api/v1/alerts and the alert events
   * (pass every event to handle()); onChange gets the list, oldest first. */
  function alertTracker(onChange) {
    const raised = new Map();
    const key = (a) => a.alert + '\u0000' + a.subject;
    const changed = () => onChange(Array.from(raised.values()));
    async function refresh() {
      const r = await api('/api/v1/alerts');
      if (r.status !== 200 || !r.data) return;
      raised.clear();
      for (const a of r.data.alerts || []) raised.set(key(a), a);
      changed();
    }
    function handle(ev) {
      if (ev.type !== 'alert') return;
      if (ev.state === 'raised') raised.set(key(ev), ev);
      else raised.delete(key(ev));
      changed();
    }
    refresh();
    setInterval(refresh, 30000);    // a missed event (a reconnect) heals
    return { handle, refresh };
  }

  /* A banner under the header listing the alerts (the console). */
  function renderAlertBanner(list) {
    const header = document.querySelector('header.top');
    let banner = document.getElementById('alert-banner');
    if (!list.length || !header) {
      if (banner) banner.remove();
      return;
    }
    if (!banner) {
      banner = document.createElement('div');
      banner.id = 'alert-banner';
      banner.className = 'alert-banner';
      banner.setAttribute('role', 'alert');
      header.after(banner);
    }
    banner.textContent = '';
    for (const a of list) {
      const line = document.createElement('div');
      line.dataset.alert = a.alert;
      line.dataset.subject = a.subject;
      line.textContent = '⚠ ' + alertText(a);
      banner.appendChild(line);
    }
  }

  /* The status object inside a status event, whatever the envelope. */
  const statusOf = (ev) => ev.status || ev.data || ev;

  /* Plays an HLS URL: hls.js where MSE exists, native HLS otherwise. */
  // Low-latency HLS (NAME.ll.m3u8 beside NAME.m3u8) when the server writes
  // it: hls.js in lowLatencyMode keeps PART-HOLD-BACK (about 1 s) behind the
  // live edge, with blocking playlist reloads; else the MPEG-TS playlist.
  async function attachHls(video, url) {
    if (video._hls) { video._hls.destroy(); video._hls = null; }
    const llUrl = url.replace(/\.m3u8$/, '.ll.m3u8');
    let ll = false;
    try { ll = (await fetch(llUrl, { method: 'HEAD', cache: 'no-store' })).ok; } catch (e) { ll = false; }
    const src = ll ? llUrl : url;
    video.dataset.hlsSrc = src;
    if (window.Hls && window.Hls.isSupported()) {
      // liveSyncDurationCount would override PART-HOLD-BACK in hls.js: only
      // for the plain playlist.
      const cfg = ll ? { enableWorker: true, lowLatencyMode: true, maxLiveSyncPlaybackRate: 1.5 }
                     : { liveSyncDurationCount: 2, enableWorker: true, lowLatencyMode: false };
      const hls = new window.Hls(cfg);
      hls.loadSource(src);
      hls.attachMedia(video);
      hls.on(window.Hls.Events.ERROR, (ev, data) => {
        if (!data.fatal) return;
        // The playlist appears when the pipeline starts: retry quietly.
        setTimeout(() => attachHls(video, url), 2000);
      });
      video._hls = hls;
    } else if (video.canPlayType('application/vnd.apple.mpegurl')) {
      video.src = src;
    }
    video.play().catch(() => {});
  }

  function fmtDuration(s) {
    s = Math.max(0, Math.floor(Number(s) || 0));
    const h = Math.floor(s / 3600), m = Math.floor((s % 3600) / 60), sec = s % 60;
    const two = (n) => String(n).padStart(2, '0');
    return two(h) + ':' + two(m) + ':' + two(sec);
  }

  /* A number in this language's digits and separators. */
  function fmtNum(n, digits) {
    const o = digits === undefined ? {} : { minimumFractionDigits: digits, maximumFractionDigits: digits };
    return Number(n || 0).toLocaleString(locale(), o);
  }

  function fmtBytes(n) {
    n = Number(n) || 0;
    const units = ['B', 'KB', 'MB', 'GB', 'TB'];
    let i = 0;
    while (n >= 1024 && i < units.length - 1) { n /= 1024; i++; }
    return fmtNum(n, i ? 1 : 0) + ' ' + units[i];
  }

  /* "78.4 GB free of 252.0 GB" / "可用 78.4 GB，共 252.0 GB". */
  const diskText = (free, total) => tf('disk_line', { free: fmtBytes(free), total: fmtBytes(total) });

  function fmtDate(iso) {
    if (!iso) return '–';
    const d = new Date(iso);
    if (isNaN(d)) return iso;
    return d.toLocaleString(locale(), { dateStyle: 'medium', timeStyle: 'short' });
  }

  /* Small DOM helper: el('td', {className: 'x'}, 'text', child...) */
  /* A schedule time (Unix seconds) in the schedule's zone: "08:00". */
  function fmtClock(secs, tz) {
    const o = { hour: '2-digit', minute: '2-digit' };
    if (tz && tz !== 'system') o.timeZone = tz;
    try { return new Date(secs * 1000).toLocaleTimeString(locale(), o); } catch (e) {
      return new Date(secs * 1000).toLocaleTimeString(); }
  }
  /* One occurrence of GET /api/v1/schedule as a line of text. */
  function lessonText(o, tz) {
    if (!o) return t('no_lesson');
    const meta = [o.subject, o.grade && o.class ? o.grade + o['class'] : o.grade || o['class'],
                  o.teacher, o.lesson_type_label, o.hall].filter(Boolean).join(' · ');
    const flags = [o.record === false ? t('not_recorded') : '', o.live === false ? t('not_live') : '']
      .filter(Boolean).join(', ');
    return fmtClock(o.start_s, tz) + '–' + fmtClock(o.end_s, tz) + '  ' + (o.title || '') +
      (meta ? '  (' + meta + ')' : '') + (flags ? '  [' + flags + ']' : '');
  }
  function el(tag, props, ...kids) {
    const e = document.createElement(tag);
    if (props) for (const [k, v] of Object.entries(props)) {
      if (k === 'dataset') Object.assign(e.dataset, v);
      else if (k.startsWith('on')) e.addEventListener(k.slice(2), v);
      else e[k] = v;
    }
    for (const k of kids) if (k !== null && k !== undefined) e.append(k);
    return e;
  }

  const dash = (v) => (v === undefined || v === null || v === '' ? '–' : String(v));

  applyI18n();
  renderLangSwitch();
  return { get lang() { return lang; }, get locale() { return locale(); }, t, tf, tv, has, errText,
    setLang, rememberLang, onLang, fmtNum, diskText, reasonText, chapterText, noteLabels, labelOf, applyI18n, api, loadSession, requireSession, renderHeader, events, statusOf,
    alertText, alertTracker, renderAlertBanner,
           attachHls, fmtDuration, fmtBytes, fmtDate, fmtClock, lessonText, el, dash, allows, homeFor,
           get session() { return session; } };
})();
