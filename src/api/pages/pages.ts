import { OPEN_STATES } from '../../domain/confirmation.js';

/**
 * The dashboard at `/` (the API reference at `/docs` is swagger-ui, `routes/docs.ts`, under the
 * same policy). It is static; its script (`/ui.js`) reads only what is public anyway (`/metrics`,
 * `/readyz`), so it shows counts and timings, never a merchant's data, and needs no key.
 * Everything it draws goes in through `textContent` or SVG attributes, never as markup, and the
 * strict Content-Security-Policy allows only this node's own script and style.
 */

export const CSP =
  "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self'; " +
  "base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

const head = (title: string): string => `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${title}</title>
<link rel="icon" href="/favicon.svg" type="image/svg+xml">
<link rel="stylesheet" href="/ui.css">
<script src="/ui.js" defer></script>
</head>`;

const nav = (here: 'dashboard'): string => `<header>
<strong>Confirma</strong>
<nav><a href="/"${here === 'dashboard' ? ' aria-current="page"' : ''}>Dashboard</a>
<a href="/docs">API</a>
<a href="/openapi.json">openapi.json</a>
<a href="/metrics">metrics</a></nav>
<span id="ready" class="pill">…</span>
</header>`;

const tile = (id: string, label: string, hint: string): string =>
  `<div class="tile"><div class="label">${label}</div><div class="value" id="${id}">–</div><div class="hint">${hint}</div></div>`;

export const DASHBOARD_HTML = `${head('Confirma · dashboard')}
<body data-page="dashboard">
${nav('dashboard')}
<main>
<section class="tiles">
${tile('ingested-rate', 'ingested / s', 'transactions and status changes committed')}
${tile('delivered-rate', 'delivered / s', 'confirmations a merchant answered 2xx')}
${tile('retry-rate', 'retries / s', 'attempts that failed and were scheduled again')}
${tile('in-flight', 'in flight', 'requests to merchants open now')}
${tile('ingest-backlog', 'waiting to commit', 'writes in the next group commit')}
${tile('loop-p99', 'event loop p99', 'how late the node ran its work, last 10 s')}
</section>
<section>
<h2>Per second, last two minutes</h2>
<svg id="chart" viewBox="0 0 600 120" preserveAspectRatio="none" role="img" aria-label="ingested and delivered per second">
<polyline id="line-ingested" class="ingested" points=""></polyline>
<polyline id="line-delivered" class="delivered" points=""></polyline>
</svg>
<p class="legend"><span class="ingested">■ ingested</span> <span class="delivered">■ delivered</span> <span id="chart-max"></span></p>
</section>
<section>
<h2>Not yet delivered</h2>
<p class="hint" id="counts-age">Across the whole store, refreshed every 5 s.</p>
<section class="tiles">
${tile('state-waiting', 'waiting', 'behind an earlier confirmation of their transaction')}
${tile('state-pending', 'pending', 'due now or at their next retry')}
${tile('state-inflight', 'in flight', 'claimed by a node')}
${tile('state-parked', 'parked', 'their merchant is disabled')}
${tile('state-dead', 'dead', 'gave up: replay or redeliver them')}
</section>
</section>
<section>
<h2>Totals on this node since it started</h2>
<table><tbody id="totals"></tbody></table>
</section>
<p id="error" class="error" hidden></p>
</main>
</body>
</html>
`;

/** A check mark in a circle, the pages' icon. */
export const FAVICON_SVG = `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 32 32"><circle cx="16" cy="16" r="15" fill="#1f9d55"/><path d="M9 16.5l4.5 4.5L23 11.5" fill="none" stroke="#fff" stroke-width="3.2" stroke-linecap="round" stroke-linejoin="round"/></svg>
`;

export const UI_CSS = `:root { color-scheme: light dark; --fg: #1d232a; --muted: #5d6875; --bg: #f6f7f9; --card: #fff; --line: #d9dee4; --a: #0b6bcb; --b: #1f9d55; --bad: #c0392b; }
@media (prefers-color-scheme: dark) { :root { --fg: #e6e9ed; --muted: #9aa5b1; --bg: #14181d; --card: #1d232a; --line: #2c343d; --a: #5aa9f0; --b: #48c78e; --bad: #ff6b5b; } }
* { box-sizing: border-box; }
body { margin: 0; font: 15px/1.45 system-ui, sans-serif; color: var(--fg); background: var(--bg); }
header { display: flex; gap: 1.5rem; align-items: center; padding: .8rem 1.5rem; background: var(--card); border-bottom: 1px solid var(--line); }
header nav a { margin-right: 1rem; color: var(--a); text-decoration: none; }
header nav a[aria-current] { font-weight: 600; text-decoration: underline; }
main { max-width: 72rem; margin: 0 auto; padding: 1rem 1.5rem 3rem; }
h2 { font-size: 1rem; margin: 1.6rem 0 .6rem; }
.tiles { display: grid; grid-template-columns: repeat(auto-fill, minmax(10.5rem, 1fr)); gap: .75rem; }
.tile { background: var(--card); border: 1px solid var(--line); border-radius: .5rem; padding: .7rem .9rem; }
.tile .label { color: var(--muted); font-size: .85rem; }
.tile .value { font-size: 1.7rem; font-variant-numeric: tabular-nums; }
.hint { color: var(--muted); font-size: .8rem; }
.pill { margin-left: auto; padding: .15rem .6rem; border-radius: 1rem; border: 1px solid var(--line); font-size: .85rem; }
.pill.ok { color: var(--b); border-color: var(--b); }
.pill.bad { color: var(--bad); border-color: var(--bad); }
svg#chart { width: 100%; height: 8rem; background: var(--card); border: 1px solid var(--line); border-radius: .5rem; }
polyline { fill: none; stroke-width: 2; vector-effect: non-scaling-stroke; }
polyline.ingested { stroke: var(--a); } polyline.delivered { stroke: var(--b); }
.legend .ingested { color: var(--a); } .legend .delivered { color: var(--b); }
table { width: 100%; border-collapse: collapse; background: var(--card); }
th, td { text-align: left; padding: .35rem .6rem; border-bottom: 1px solid var(--line); vertical-align: top; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
code, td.mono { font-family: ui-monospace, monospace; font-size: .9em; }
.error { color: var(--bad); }
`;

/**
 * The dashboard's script. Plain ES2020 for any current browser, no dependencies. It reads
 * `/metrics` once a second and draws rates from the counters' differences.
 */
export const UI_JS = `'use strict';
(() => {
  const $ = (id) => document.getElementById(id);
  const set = (id, text) => { const el = $(id); if (el !== null) el.textContent = text; };
  const fmt = (n, digits = 0) => Number.isFinite(n) ? n.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits }) : '–';
  const showError = (message) => { const el = $('error'); if (el === null) return; el.hidden = message === undefined; el.textContent = message ?? ''; };

  /** Prometheus text → Map of "name{labels}" → value. */
  function parseMetrics(text) {
    const out = new Map();
    for (const line of text.split('\\n')) {
      if (line === '' || line.startsWith('#')) continue;
      const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*(?:\\{[^}]*\\})?) (\\S+)$/.exec(line);
      if (m !== null) out.set(m[1], Number(m[2]));
    }
    return out;
  }
  /** Sum over every label set of a counter (0 while it has none). */
  function total(metrics, name) {
    let sum = 0;
    for (const [key, v] of metrics) if (key === name || key.startsWith(name + '{')) sum += v;
    return sum;
  }

  async function readiness() {
    const el = $('ready');
    try {
      const res = await fetch('/readyz', { cache: 'no-store' });
      el.textContent = res.ok ? 'ready' : 'not ready';
      el.className = 'pill ' + (res.ok ? 'ok' : 'bad');
    } catch {
      el.textContent = 'unreachable';
      el.className = 'pill bad';
    }
  }

  const POINTS = 120;
  const history = [];
  let previous;
  function draw() {
    const max = Math.max(1, ...history.map((h) => Math.max(h.ingested, h.delivered)));
    // The newest second at the right edge.
    const offset = POINTS - history.length;
    const line = (key) => history.map((h, i) => (((offset + i) * 600) / (POINTS - 1)).toFixed(1) + ',' + (118 - (h[key] / max) * 112).toFixed(1)).join(' ');
    $('line-ingested').setAttribute('points', line('ingested'));
    $('line-delivered').setAttribute('points', line('delivered'));
    set('chart-max', 'top of the chart: ' + fmt(max) + '/s');
  }
  function totalsRow(body, label, value) {
    const tr = document.createElement('tr');
    const th = document.createElement('th');
    th.textContent = label;
    const td = document.createElement('td');
    td.className = 'num';
    td.textContent = fmt(value);
    tr.append(th, td);
    body.append(tr);
  }
  async function dashboardTick() {
    try {
      const res = await fetch('/metrics', { cache: 'no-store' });
      if (!res.ok) throw new Error('/metrics answered ' + res.status);
      const m = parseMetrics(await res.text());
      const now = performance.now();
      const current = {
        at: now,
        ingested: m.get('confirma_ingested_total') ?? 0,
        delivered: m.get('confirma_attempts_total{outcome="delivered"}') ?? 0,
        retry: m.get('confirma_attempts_total{outcome="retry"}') ?? 0,
      };
      if (previous !== undefined && now > previous.at) {
        const seconds = (now - previous.at) / 1000;
        const rate = (k) => Math.max(0, (current[k] - previous[k]) / seconds);
        history.push({ ingested: rate('ingested'), delivered: rate('delivered') });
        if (history.length > POINTS) history.shift();
        set('ingested-rate', fmt(rate('ingested')));
        set('delivered-rate', fmt(rate('delivered')));
        set('retry-rate', fmt(rate('retry')));
        draw();
      }
      previous = current;
      set('in-flight', fmt(m.get('confirma_in_flight')));
      set('ingest-backlog', fmt(m.get('confirma_ingest_backlog')));
      set('loop-p99', fmt((m.get('confirma_event_loop_delay_seconds{quantile="0.99"}') ?? NaN) * 1000, 1) + ' ms');
      for (const state of ${JSON.stringify(OPEN_STATES)}) {
        set('state-' + state, fmt(m.get('confirma_confirmations{state="' + state + '"}')));
      }
      // While the store does not answer, the node serves the last counts it read: say how old.
      const age = m.get('confirma_confirmations_age_seconds');
      const storeDown = m.get('confirma_store_up') === 0;
      set('counts-age', storeDown
        ? 'The store is not answering: ' + (age === undefined ? 'no counts read yet.' : 'these counts are from ' + fmt(age) + ' s ago.')
        : 'Across the whole store, read ' + fmt(age) + ' s ago (every 5 s).');
      $('counts-age').className = storeDown ? 'hint error' : 'hint';
      const body = $('totals');
      body.replaceChildren();
      totalsRow(body, 'committed (transactions and status changes)', current.ingested);
      for (const outcome of ['delivered', 'retry', 'dead', 'disable']) {
        totalsRow(body, 'attempts: ' + outcome, m.get('confirma_attempts_total{outcome="' + outcome + '"}') ?? 0);
      }
      totalsRow(body, 'outcomes dropped (lease lapsed)', total(m, 'confirma_stale_outcomes_total'));
      showError(undefined);
    } catch (err) {
      showError('Could not read /metrics: ' + err.message);
    }
  }

  document.addEventListener('DOMContentLoaded', () => {
    void readiness();
    setInterval(() => void readiness(), 5000);
    if (document.body.dataset.page === 'dashboard') {
      void dashboardTick();
      setInterval(() => void dashboardTick(), 1000);
    }
  });
})();
`;
