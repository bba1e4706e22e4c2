// What every browser test here shares: checks that collect their failures,
// timed steps that turn an exception into a failed check, checks of a state
// that arrives by an event (eventually), Debian's Chromium
// launched headless on the fresh profile run_browser.py gives (PROFILE),
// and the exit status from the checks.
'use strict';
const { chromium } = require('playwright-core');

const failures = [];

function check(cond, what) {
  console.log((cond ? 'ok   ' : 'FAIL ') + what);
  if (!cond) failures.push(what);
  return cond;
}

async function step(what, fn) {
  const t0 = Date.now();
  try {
    await fn();
  } catch (e) {
    check(false, what + ': ' + String(e).split('\n')[0]);
  }
  console.log('     (' + what + ': ' + ((Date.now() - t0) / 1000).toFixed(1) + ' s)');
}

// opts: viewport ({width, height}), locale, autoplay (sound without a click)
function launch(opts) {
  opts = opts || {};
  const settings = {
    executablePath: '/usr/bin/chromium',
    headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
           '--disable-background-networking', '--disable-component-update', '--disable-sync']
      .concat(opts.autoplay ? ['--autoplay-policy=no-user-gesture-required'] : []),
  };
  if (opts.viewport) settings.viewport = opts.viewport;
  if (opts.locale) settings.locale = opts.locale;
  return chromium.launchPersistentContext(process.env.PROFILE, settings);
}

// A state that an action brings about through a queued event, a poll or a
// WebSocket message is there some time after the action returns: probe()
// (async, returning { ok, text }) is asked again until ok or timeout_ms
// has passed (generous: the machine is shared), and the last answer is
// checked, its text in the check's line.
async function eventually(what, probe, timeoutMs) {
  const until = Date.now() + (timeoutMs || 30000);
  let r = { ok: false, text: '' };
  for (;;) {
    try {
      r = await probe();
    } catch (e) {
      r = { ok: false, text: String(e).split('\n')[0] };
    }
    if (r.ok || Date.now() > until) break;
    await new Promise((res) => setTimeout(res, 100));
  }
  return check(r.ok, what + (r.text ? ' (' + r.text + ')' : ''));
}

function finish() {
  if (failures.length) {
    console.log(failures.length + ' check(s) failed');
    process.exit(1);
  }
  console.log('all checks passed');
  process.exit(0);
}

module.exports = { check, step, eventually, launch, finish, failures };
