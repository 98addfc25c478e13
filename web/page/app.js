// app.js: the page. Inputs -> the query string (the command line's flag names) -> a request to
// the gemmasim module in worker.js -> the answer drawn as tables and charts.
/* global drawChart */
'use strict';

const $ = (id) => document.getElementById(id);
const GiB = 1024 ** 3;

// --- the module, in workers: the answer and the charts each in their own, so drawing the charts
// (a few hundred ms) never delays the next answer; stale answers are dropped by the callers ------
function moduleWorker() {
  const w = new Worker('worker.js');
  let nextId = 1;
  const pending = new Map();
  w.onmessage = (e) => {
    const p = pending.get(e.data.id);
    if (!p) return;
    pending.delete(e.data.id);
    p({ answer: JSON.parse(e.data.answer), ms: e.data.ms });
  };
  w.onerror = (e) => fail('the estimator could not start: ' + (e.message || 'unknown error'));
  return (command, args) => {
    const id = nextId++;
    return new Promise((resolve) => {
      pending.set(id, resolve);
      w.postMessage({ id, request: JSON.stringify({ command, args }) });
    });
  };
}
const call = moduleWorker();
const callCharts = moduleWorker();

// Timings the browser test reads (window.gemmasimTimings): first answer after the page started
// loading, and each re-rank from the input change to the answer on screen.
const timings = { firstAnswerMs: null, rerankMs: [], callMs: [] };
window.gemmasimTimings = timings;

let catalog = null;
let answers = 0;

function setStatus(state, text) {
  const s = $('status');
  s.dataset.state = state;
  s.dataset.answers = String(answers);
  s.textContent = text;
}

function fail(message) {
  $('error').textContent = message;
  $('error').hidden = false;
  setStatus('error', 'No answer: see the message below.');
}

// --- inputs <-> URL ------------------------------------------------------------------------
const FIELDS = ['budget', 'use-case', 'ctx', 'min-decode-tok-per-s', 'rank'];

function mode() {
  return document.querySelector('input[name=mode]:checked').value;
}

function ownSpec() {
  const kind = $('own-kind').value;
  const parts = [`kind=${kind}`, `${kind === 'gpu' ? 'vram' : 'mem'}=${$('own-mem').value}GiB`, `bw=${$('own-bw').value}GB/s`];
  if (kind === 'gpu') parts.push(`ram=${$('own-ram').value}GiB`);
  if ($('own-fp16').value) parts.push(`fp16=${$('own-fp16').value}TFLOPS`);
  return parts.join(',');
}

// The request's args: the flags a command line would give (empty inputs are left out).
function args() {
  const a = {};
  const m = mode();
  if (m === 'budget') a.budget = $('budget').value;
  else a.hw = m === 'device' ? $('hw').value : ownSpec();
  for (const f of FIELDS.slice(1)) if ($(f).value !== '' && !(f === 'rank' && $(f).value === 'quality')) a[f] = $(f).value;
  return a;
}

function writeUrl(a) {
  const q = new URLSearchParams(a);
  history.replaceState(null, '', `${location.pathname}?${q.toString()}`);
  const flags = Object.entries(a).map(([k, v]) => `--${k} ${/^[\w.@/-]+$/.test(v) ? v : `'${v}'`}`);
  $('cli').textContent = ['gemmasim advise', ...flags].join(' ');
}

function readUrl() {
  const q = new URLSearchParams(location.search);
  if (q.has('budget')) $('budget').value = q.get('budget');
  if (q.has('hw')) {
    const hw = q.get('hw');
    if ([...$('hw').options].some((o) => o.value === hw)) {
      $('hw').value = hw;
      document.querySelector('input[value=device]').checked = true;
    } else {
      document.querySelector('input[value=custom]').checked = true;
      for (const kv of hw.split(',')) {
        const [k, v] = kv.split('=');
        const n = parseFloat(v);
        if (k === 'kind') $('own-kind').value = v;
        else if (k === 'vram' || k === 'mem') $('own-mem').value = n;
        else if (k === 'bw') $('own-bw').value = n;
        else if (k === 'ram') $('own-ram').value = n;
        else if (k === 'fp16') $('own-fp16').value = n;
      }
    }
  }
  for (const f of FIELDS.slice(1)) if (q.has(f)) $(f).value = q.get(f);
  showMode();
}

function showMode() {
  const m = mode();
  for (const d of document.querySelectorAll('.mode')) d.hidden = d.dataset.mode !== m;
  for (const d of document.querySelectorAll('.gpu-only')) d.hidden = $('own-kind').value !== 'gpu';
}

// --- formatting ------------------------------------------------------------------------------
const gib = (b) => (b / GiB).toFixed(b >= 10 * GiB ? 1 : 2);
const rate = (v, d) => (v > 0 ? v.toFixed(d) : '–');
const tokens = (n) => (n >= 1024 ? `${Math.round(n / 1024)}K` : String(n));
const money = (r) => (r.rental_usd_per_hour > 0 ? `$${r.rental_usd_per_hour.toFixed(2)}/h` : r.price_usd > 0 ? `$${Math.round(r.price_usd)}` : '–');

function table(id, head, rows) {
  const t = $(id);
  t.tHead.innerHTML = '';
  const tr = t.tHead.insertRow();
  for (const h of head) {
    const th = document.createElement('th');
    th.textContent = h;
    tr.appendChild(th);
  }
  const body = t.tBodies[0];
  body.innerHTML = '';
  return rows.map((cells) => {
    const r = body.insertRow();
    for (const c of cells) {
      const td = r.insertCell();
      if (c && typeof c === 'object') {
        td.textContent = c.text;
        if (c.title) td.title = c.title;
        if (c.cls) td.className = c.cls;
      } else td.textContent = c;
    }
    return r;
  });
}

// --- rendering -------------------------------------------------------------------------------
let result = null;
let selected = 0;

function render(res) {
  result = res;
  selected = 0;
  $('error').hidden = true;
  $('results').hidden = false;
  $('winner').textContent = res.winner_reason;
  $('faster').hidden = !res.faster_option;
  $('faster').textContent = res.faster_option ? `Faster, nearly as good: ${res.faster_option}` : '';
  $('rent').hidden = !res.buy_vs_rent;
  $('rent').textContent = res.buy_vs_rent ? `Buy or rent: ${res.buy_vs_rent}` : '';
  $('warnings').hidden = !(res.warnings && res.warnings.length);
  $('warnings').innerHTML = '';
  for (const w of res.warnings || []) {
    const li = document.createElement('li');
    li.textContent = w;
    $('warnings').appendChild(li);
  }
  const recs = res.recommendations;
  const rows = table('ranked', ['#', 'system', 'price', 'variant', 'quant', 'split', 'engine', 'context fits', 'prefill tok/s', 'decode tok/s', 'quality'],
    recs.map((r) => [r.rank, { text: r.system, title: r.system_name }, money(r), nameOf(r.model), r.quant, r.split, r.engine, tokens(r.context_fits_tokens),
      rate(r.prefill_tok_per_s, 0), rate(r.decode_tok_per_s, 1), r.quality_proxy.toFixed(1)]));
  rows.forEach((tr, i) => {
    tr.tabIndex = 0;
    tr.addEventListener('click', () => select(i));
    tr.addEventListener('keydown', (e) => { if (e.key === 'Enter') select(i); });
  });
  $('variants').innerHTML = '';
  for (const v of res.variants) {
    const li = document.createElement('li');
    const b = document.createElement('b');
    b.textContent = v.name;
    li.appendChild(b);
    li.appendChild(document.createTextNode(`: ${v.reason}`));
    $('variants').appendChild(li);
  }
  select(0);
}

function nameOf(modelId) {
  const m = catalog.models.find((x) => x.id === modelId);
  return m ? m.name : modelId;
}

function select(i) {
  selected = i;
  const recs = result.recommendations;
  [...$('ranked').tBodies[0].rows].forEach((tr, k) => tr.classList.toggle('selected', k === i));
  if (!recs.length) {
    $('commands').textContent = '(nothing passes: loosen the requirements)';
    table('fit', [], []);
    table('grid', [], []);
    $('fit-title').textContent = $('grid-title').textContent = $('fit-note').textContent = '';
    return;
  }
  const r = recs[i];
  $('commands').textContent = r.commands.join('\n');
  const f = r.fit;
  $('fit-title').textContent = `${nameOf(r.model)} ${r.quant} on ${r.system_name}, ${tokens(f.context_tokens)} context`;
  const devRows = f.devices.filter((d) => d.total_bytes > 0 || d.role === 'host').map((d) => [
    `${d.role} ${d.device}`, d.layers, gib(d.weights_bytes), gib(d.kv_cache_bytes), gib(d.compute_buffer_bytes),
    gib(d.overhead_bytes), gib(d.total_bytes), gib(d.capacity_bytes), gib(d.reserve_bytes),
    { text: d.fits ? 'yes' : 'NO', cls: d.fits ? 'ok' : 'bad' }]);
  const m = f.memory;
  devRows.push(['all', '', gib(m.weights_bytes), gib(m.kv_cache_bytes), gib(m.compute_buffer_bytes), gib(m.overhead_bytes),
    gib(m.total_bytes), gib(m.capacity_bytes), gib(m.reserve_bytes), { text: m.fits ? 'yes' : 'NO', cls: m.fits ? 'ok' : 'bad' }]);
  table('fit', ['device', 'layers', 'weights GiB', 'KV cache GiB', 'compute GiB', 'overhead GiB', 'total GiB', 'capacity GiB', 'OS keeps GiB', 'fits'], devRows);
  $('fit-note').textContent = `Largest context with this placement: ${f.max_context_tokens.toLocaleString('en-US')} tokens. ` +
    (f.reserve_source ? `Capacity is what is left after the memory the OS keeps (${f.reserve_source}).` : '');

  const grid = result.speed_grid.find((g) => g.system === r.system);
  $('grid-title').textContent = `on ${r.system_name}`;
  const quants = catalog.quants.filter((q) => grid.rows.some((x) => x.quant === q));
  table('grid', ['variant', ...quants], catalog.models.filter((mm) => grid.rows.some((x) => x.model === mm.id)).map((mm) => [
    mm.name, ...quants.map((q) => {
      const c = grid.rows.find((x) => x.model === mm.id && x.quant === q);
      if (!c) return '';
      if (c.verdict === 'ok') return { text: c.decode_tok_per_s.toFixed(1), title: `${c.split}, ${c.engine}; prefill ${c.prefill_tok_per_s.toFixed(0)} tok/s; quality ${c.quality_proxy.toFixed(1)}`, cls: 'ok' };
      return { text: c.decode_tok_per_s > 0 ? `(${c.decode_tok_per_s.toFixed(1)})` : '–', title: `${c.verdict}: ${c.why}`, cls: 'bad' };
    })]));
}

// --- the loop: inputs -> answer -> charts ------------------------------------------------------
let adviseSeq = 0, chartSeq = 0, chartTimer = null;

async function update(changedAt) {
  const a = args();
  writeUrl(a);
  const seq = ++adviseSeq;
  setStatus('working', 'Working…');
  const { answer, ms } = await call('advise', a);
  if (seq !== adviseSeq) return;  // a newer input is being answered
  timings.callMs.push(ms);
  if (!answer.ok) {
    fail(answer.error);
    return;
  }
  ++answers;
  render(answer.result);
  const now = performance.now();
  if (timings.firstAnswerMs === null) timings.firstAnswerMs = now;
  else if (changedAt !== undefined) timings.rerankMs.push(now - changedAt);
  setStatus('done', `${answer.result.evaluated} configurations evaluated, ${answer.result.passing} pass; answered in ${Math.round(ms)} ms.`);
  clearTimeout(chartTimer);
  chartTimer = setTimeout(() => charts(a), 400);  // after a pause in the inputs
}

async function charts(a) {
  const seq = ++chartSeq;
  const { answer } = await callCharts('charts', a);
  if (seq !== chartSeq || !answer.ok) return;
  const box = $('charts');
  box.innerHTML = '';
  for (const spec of answer.result) {
    const div = document.createElement('div');
    div.id = `chart-${spec.name}`;
    box.appendChild(div);
    drawChart(div, spec);
  }
  box.dataset.drawn = String(answer.result.length);
}

$('copy').addEventListener('click', () => {
  if (navigator.clipboard) navigator.clipboard.writeText($('commands').textContent).catch(() => {});
});

async function start() {
  const { answer } = await call('catalog', {});
  if (!answer.ok) {
    fail(answer.error);
    return;
  }
  catalog = answer.result;
  const opt = (parent, value, text) => {
    const o = document.createElement('option');
    o.value = value;
    o.textContent = text;
    parent.appendChild(o);
  };
  const groups = [['Systems', catalog.systems], ['Devices (in a default PC)', catalog.devices]];
  for (const [label, items] of groups) {
    const g = document.createElement('optgroup');
    g.label = label;
    for (const s of items) opt(g, s.id, s.name);
    $('hw').appendChild(g);
  }
  for (const u of catalog.use_cases) opt($('use-case'), u.id, `${u.id}: ${u.description}`);
  $('use-case').value = catalog.default_use_case;
  readUrl();
  const changed = () => { showMode(); update(performance.now()); };
  for (const e of document.querySelectorAll('#inputs input, #inputs select')) e.addEventListener('change', changed);
  await update();
}

start();
