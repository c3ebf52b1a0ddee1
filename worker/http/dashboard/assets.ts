/**
 * The dashboard's stylesheet and script, inlined with the page's CSP nonce (no build step, no extra request).
 * The script: confirms and CSRF-stamps every action form, swaps the live sections in from the server's SSE
 * snapshots (server-rendered, escaped HTML) keeping keyboard focus, and counts down to half-open times. The front
 * page and a scan's page use it alike (`main[data-live]` names the stream); a `final` snapshot ends the stream.
 */
export const DASHBOARD_CSS = `
:root { color-scheme: light dark; --ok: #1a7f37; --bad: #cf222e; --warn: #9a6700; --off: #6e7781; --line: #d0d7de; }
* { box-sizing: border-box; }
body { margin: 0; font: 15px/1.45 system-ui, sans-serif; }
header { display: flex; flex-wrap: wrap; gap: .75rem; align-items: center; padding: .6rem 1rem; border-bottom: 1px solid var(--line); }
header h1 { font-size: 1.2rem; margin: 0; } header h1 a { color: inherit; text-decoration: none; }
header .who { margin-left: auto; }
main { padding: 0 1rem 2rem; max-width: 1400px; margin: 0 auto; }
h2 { font-size: 1.05rem; margin: 1.4rem 0 .5rem; }
.sr-only { position: absolute; width: 1px; height: 1px; overflow: hidden; clip: rect(0 0 0 0); }
.summary { display: flex; flex-wrap: wrap; gap: .5rem 1.5rem; margin-top: 1rem; align-items: center; }
.cards { display: grid; grid-template-columns: repeat(auto-fill, minmax(270px, 1fr)); gap: .75rem; }
.card { border: 1px solid var(--line); border-radius: 6px; padding: .6rem .8rem; }
.card h3 { font-size: 1rem; margin: 0 0 .3rem; display: flex; justify-content: space-between; gap: .5rem; }
.card p { margin: .2rem 0; }
.transitions { margin: .3rem 0; padding-left: 1.1rem; font-size: .85rem; }
.actions { display: flex; flex-wrap: wrap; gap: .4rem; margin-top: .4rem; }
.state, .status { font-weight: 600; padding: 0 .4rem; border-radius: 4px; border: 1px solid currentColor; white-space: nowrap; }
.state-closed, .status-succeeded { color: var(--ok); }
.state-open, .status-failed, .status-rejected { color: var(--bad); }
.state-half-open, .status-running, .status-dispatched, .status-queued { color: var(--warn); }
.state-offline, .status-cancelled { color: var(--off); }
.scroll { overflow-x: auto; }
table { border-collapse: collapse; width: 100%; font-size: .9rem; }
th, td { text-align: left; padding: .3rem .5rem; border-bottom: 1px solid var(--line); white-space: nowrap; }
form.inline { display: inline; margin: 0; }
button { font: inherit; padding: .15rem .6rem; border-radius: 5px; border: 1px solid var(--line); background: transparent; color: inherit; cursor: pointer; }
button.danger { border-color: var(--bad); color: var(--bad); }
button:focus-visible, a:focus-visible, input:focus-visible, pre:focus-visible { outline: 3px solid #0969da; outline-offset: 2px; }
.muted { color: var(--off); } .empty { color: var(--off); font-style: italic; }
.error { color: var(--bad); font-weight: 600; } .notice { color: var(--ok); font-weight: 600; }
.add-runner input { max-width: 100%; font: inherit; } pre[data-install-command] { white-space: pre-wrap; overflow-wrap: anywhere; }
.login { max-width: 360px; margin: 12vh auto; } .login input { width: 100%; padding: .4rem; margin: .3rem 0 .7rem; font: inherit; }
.chart { width: 100%; max-width: 900px; height: auto; }
.chart .axis { stroke: var(--off); } .chart .label { font-size: 10px; fill: var(--off); } .chart .end { text-anchor: end; }
.bar-succeeded { fill: var(--ok); background: var(--ok); } .bar-failed { fill: var(--bad); background: var(--bad); }
.bar-cancelled { fill: var(--off); background: var(--off); } .bar-rejected { fill: var(--warn); background: var(--warn); }
.legend { margin-right: 1rem; font-size: .85rem; } .swatch { display: inline-block; width: .8rem; height: .8rem; vertical-align: middle; }
.facts { display: grid; grid-template-columns: max-content 1fr; gap: .2rem 1rem; }
.facts dd { margin: 0; overflow-wrap: anywhere; }
.output { background: rgba(127,127,127,.1); padding: .75rem; overflow: auto; max-height: 70vh; font-size: .8rem; }
#live[data-state="live"], #live[data-state="done"] { color: var(--ok); } #live[data-state="down"] { color: var(--bad); }
@media (max-width: 600px) { body { font-size: 14px; } main { padding: 0 .5rem 2rem; } }
`;

export const DASHBOARD_JS = `
(function () {
  'use strict';
  var meta = document.querySelector('meta[name="csrf-token"]');
  var csrf = meta ? meta.getAttribute('content') : '';
  document.addEventListener('submit', function (event) {
    var form = event.target;
    if (!(form instanceof HTMLFormElement)) return;
    var question = form.getAttribute('data-confirm');
    if (question && !window.confirm(question)) { event.preventDefault(); return; }
    var field = form.querySelector('input[name="csrf"]');
    if (field && csrf) field.value = csrf;
  });

  var offset = 0;
  function tick() {
    var now = Date.now() + offset;
    document.querySelectorAll('[data-countdown]').forEach(function (el) {
      var left = Math.max(0, Math.ceil((Number(el.getAttribute('data-countdown')) - now) / 1000));
      el.textContent = left + ' s';
    });
  }
  setInterval(tick, 1000);

  // A key for the focused control, to find it again after its section is replaced.
  function focusKey(el) {
    if (!el || el === document.body) return null;
    if (el.tagName === 'A') return { sel: 'a[href="' + el.getAttribute('href') + '"]' };
    var form = el.form;
    if (form) {
      var action = form.querySelector('input[name="action"]');
      var target = form.querySelector('input[name="target"]');
      if (action && target) return { sel: 'form input[name="target"][value="' + CSS.escape(target.value) + '"]', action: action.value };
    }
    return null;
  }
  function refocus(root, key) {
    if (!key) return;
    var found = root.querySelectorAll(key.sel);
    for (var i = 0; i < found.length; i++) {
      var el = found[i];
      if (el.tagName === 'A') { el.focus(); return; }
      var form = el.form;
      if (form && form.querySelector('input[name="action"]').value === key.action) { form.querySelector('button').focus(); return; }
    }
  }

  var main = document.querySelector('main[data-live]');
  var live = document.getElementById('live');
  var last = {};
  if (main && window.EventSource) {
    var source = new EventSource(main.getAttribute('data-live'));
    source.addEventListener('snapshot', function (event) {
      var snapshot = JSON.parse(event.data);
      offset = snapshot.now - Date.now();
      Object.keys(snapshot.sections).forEach(function (id) {
        var html = snapshot.sections[id];
        var el = document.getElementById(id);
        if (!el || last[id] === html) return;
        last[id] = html;
        var key = el.contains(document.activeElement) ? focusKey(document.activeElement) : null;
        // A scrolled output box keeps its place; one followed to its end keeps following.
        var box = el.querySelector('.output');
        var scroll = box ? { top: box.scrollTop, atEnd: box.scrollTop + box.clientHeight >= box.scrollHeight - 4 } : null;
        el.innerHTML = html;
        refocus(el, key);
        var next = scroll && el.querySelector('.output');
        if (next) next.scrollTop = scroll.atEnd ? next.scrollHeight : scroll.top;
      });
      tick();
      // An ended scan's page will not change again: stop listening rather than reconnect.
      if (snapshot.final) {
        source.close();
        if (live) { live.textContent = 'finished'; live.setAttribute('data-state', 'done'); }
      } else if (live) { live.textContent = 'live'; live.setAttribute('data-state', 'live'); }
    });
    source.addEventListener('error', function () {
      if (live) { live.textContent = 'reconnecting…'; live.setAttribute('data-state', 'down'); }
    });
  }
})();
`;
