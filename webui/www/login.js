/* First run (set the admin password) and sign in. */
'use strict';
(async () => {
  const params = new URLSearchParams(location.search);
  const next = params.get('next');
  const go = (role) => {
    // Only our own pages: a "next" elsewhere would be an open redirect.
    location.href = next && /^\/[a-z]+\.html$/.test(next) ? next : LB.homeFor(role);
  };
  const s = await LB.loadSession();
  if (s && s.authenticated) return go(s.role);
  const setup = document.getElementById('setup');
  const login = document.getElementById('login');
  if (s && s.setup_required) {
    setup.classList.remove('hidden');
    document.getElementById('setup-code').focus();
  } else {
    login.classList.remove('hidden');
    if (s && s.public_viewer) document.getElementById('public-link').classList.remove('hidden');
    document.getElementById('user').focus();
  }
  setup.addEventListener('submit', async (e) => {
    e.preventDefault();
    const p1 = document.getElementById('setup-password').value;
    const p2 = document.getElementById('setup-password2').value;
    const err = document.getElementById('setup-error');
    if (p1 !== p2) { err.textContent = LB.t('setup_mismatch'); return; }
    const code = document.getElementById('setup-code').value;
    const r = await LB.api('/api/v1/setup', { method: 'POST', body: { code, user: 'admin', password: p1 } });
    if (r.status === 201) return go(r.data.role);
    err.textContent = LB.errText(r);
  });
  login.addEventListener('submit', async (e) => {
    e.preventDefault();
    const err = document.getElementById('login-error');
    const r = await LB.api('/api/v1/login', { method: 'POST', body: {
      user: document.getElementById('user').value, password: document.getElementById('password').value } });
    if (r.status === 200) {
      LB.rememberLang(r.data.lang);     // the user's language, in any browser
      return go(r.data.role);
    }
    err.textContent = r.status === 429 ? LB.t('login_limited') : LB.t('login_failed');
  });
})();
