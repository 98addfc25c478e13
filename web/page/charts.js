// charts.js: the report's charts drawn as plain SVG from their CSV data (the same CSV files
// `gemmasim report` writes beside its gnuplot renders). Hover a bar or point for its value;
// click a legend entry to hide or show that series.
'use strict';

const SVG = 'http://www.w3.org/2000/svg';
const COLORS = ['#1f77b4', '#ff7f0e', '#2ca02c', '#d62728', '#9467bd', '#8c564b', '#e377c2', '#7f7f7f', '#bcbd22', '#17becf'];

// CSV text -> {head: [...], rows: [[...]]}; '#' lines are comments; quoted fields may hold commas.
function parseCsv(text) {
  const lines = text.split('\n').filter((l) => l.length && l[0] !== '#');
  const split = (line) => {
    const out = [];
    let cur = '', quoted = false;
    for (let i = 0; i < line.length; ++i) {
      const ch = line[i];
      if (quoted) {
        if (ch === '"' && line[i + 1] === '"') { cur += '"'; ++i; }
        else if (ch === '"') quoted = false;
        else cur += ch;
      } else if (ch === '"') quoted = true;
      else if (ch === ',') { out.push(cur); cur = ''; }
      else cur += ch;
    }
    out.push(cur);
    return out;
  };
  const head = split(lines[0] || '');
  return { head, rows: lines.slice(1).map(split) };
}

const num = (s) => (s === undefined || s === '' || s === 'NaN' ? NaN : Number(s));

// How each chart of gemmasim is drawn: which columns are series and on what axes.
const KINDS = {
  'advise-top': { type: 'bars', cat: 'config', series: (h) => h.filter((c) => c === 'decode tok/s'), y: 'decode tok/s' },
  'advise-memory': {
    type: 'stacked', y: 'GB',
    series: (h) => h.filter((c) => / GB$/.test(c) && c !== 'system memory GB' && c !== 'GPU memory GB'),
    marks: (h) => h.filter((c) => c === 'GPU memory GB'),
  },
  decode: { type: 'bars', series: (h) => h.filter((c) => / tok\/s$/.test(c)), y: 'decode tok/s' },
  memory: { type: 'stacked', series: (h) => h.filter((c) => / GB$/.test(c) && c !== 'total GB'), y: 'GB', levels: 'memory-capacity.csv' },
  context: { type: 'lines', logx: true, series: (h) => h.slice(1), y: 'GB', x: 'context tokens' },
  cost: { type: 'scatter', logx: true, series: (h) => h.filter((c) => / tok\/s$/.test(c) && c !== 'fastest tok/s'), y: 'decode tok/s', x: 'price USD', fronts: 'cost-pareto.csv' },
  'running-cost': { type: 'bars', logy: true, series: (h) => h.filter((c) => /USD per Mtok$/.test(c)), y: 'USD per million output tokens' },
  energy: { type: 'pairs', logx: true, logy: true, x: 'decode tok/s', y: 'J per output token' },
};

function el(name, attrs, parent) {
  const e = document.createElementNS(SVG, name);
  for (const k in attrs) e.setAttribute(k, attrs[k]);
  if (parent) parent.appendChild(e);
  return e;
}

// "Nice" ticks over [lo, hi]; log axes tick at powers of ten (and 2, 5 between when few).
function ticks(lo, hi, log) {
  if (log) {
    const out = [];
    for (let p = Math.floor(Math.log10(lo)); p <= Math.ceil(Math.log10(hi)); ++p)
      for (const m of [1, 2, 5]) {
        const v = m * Math.pow(10, p);
        if (v >= lo * 0.999 && v <= hi * 1.001) out.push(v);
      }
    return out;
  }
  const span = hi - lo || 1;
  const step0 = Math.pow(10, Math.floor(Math.log10(span / 5)));
  const step = [1, 2, 5, 10].map((m) => m * step0).find((s) => span / s <= 6);
  const out = [];
  for (let v = Math.ceil(lo / step) * step; v <= hi + step * 1e-9; v += step) out.push(+v.toPrecision(12));
  return out;
}

const fmt = (v) => (Math.abs(v) >= 1000 ? v.toLocaleString('en-US', { maximumFractionDigits: 0 })
  : Math.abs(v) >= 10 ? v.toFixed(1) : Math.abs(v) >= 0.1 ? v.toFixed(2) : v.toPrecision(2));

function scale(lo, hi, a, b, log) {
  if (log) {
    const l0 = Math.log10(lo), l1 = Math.log10(hi);
    return (v) => a + ((Math.log10(v) - l0) / (l1 - l0 || 1)) * (b - a);
  }
  return (v) => a + ((v - lo) / (hi - lo || 1)) * (b - a);
}

// The chart's series as [{name, points: [{x (category index or value), y, label}]}].
function seriesOf(kind, table) {
  const { head, rows } = table;
  if (kind.type === 'pairs') {
    const out = [];
    head.forEach((c, i) => {
      const m = / tok\/s$/.exec(c);
      if (!m) return;
      const stem = c.slice(0, m.index);
      const j = head.indexOf(stem + ' J/token');
      if (j < 0) return;
      out.push({ name: stem, points: rows.map((r) => ({ x: num(r[i]), y: num(r[j]), label: r[0] })) });
    });
    return out;
  }
  const numericX = kind.type === 'lines' || kind.type === 'scatter';
  const xi = kind.x ? head.indexOf(kind.x) : 0;
  return kind.series(head).map((c) => {
    const i = head.indexOf(c);
    return {
      name: c,
      points: rows.map((r, k) => ({ x: numericX ? num(r[xi]) : k, y: num(r[i]), label: r[kind.cat ? head.indexOf(kind.cat) : 0] })),
    };
  });
}

// Draws one chart into container (an element); returns nothing. spec: {name, title, csv}.
function drawChart(container, spec, hidden) {
  hidden = hidden || new Set();
  container.textContent = '';
  container.classList.add('chart');
  const kind = KINDS[spec.name] || { type: 'bars', series: (h) => h.slice(1) };
  const table = parseCsv(spec.csv);
  const all = seriesOf(kind, table);
  const shown = all.filter((s) => !hidden.has(s.name));
  const title = document.createElement('h3');
  title.textContent = spec.title;
  container.appendChild(title);

  const categorical = kind.type === 'bars' || kind.type === 'stacked';
  // categorical charts keep room on the left for the first slanted label
  const W = 760, H = 380, L = categorical ? 96 : 64, R = 16, T = 12;
  const ci = kind.cat ? Math.max(0, table.head.indexOf(kind.cat)) : 0;
  const cats = table.rows.map((r) => r[ci]);
  const B = categorical ? 40 + Math.min(120, 5.5 * Math.max(0, ...cats.map((c) => c.length))) : 44;
  const svg = el('svg', { viewBox: `0 0 ${W} ${H + B}`, role: 'img', 'aria-label': spec.title }, null);
  container.appendChild(svg);
  const tip = document.createElement('div');
  tip.className = 'tip';
  container.appendChild(tip);
  const show = (evt, text) => {
    tip.textContent = text;
    tip.style.display = 'block';
    const box = container.getBoundingClientRect();
    tip.style.left = `${evt.clientX - box.left + 12}px`;
    tip.style.top = `${evt.clientY - box.top + 12}px`;
  };
  const hide = () => { tip.style.display = 'none'; };
  const hover = (node, text) => {
    node.addEventListener('mousemove', (e) => show(e, text));
    node.addEventListener('mouseleave', hide);
    el('title', {}, node).textContent = text;
    node.classList.add('datum');
  };

  // reference levels (device capacities): rows of (label, value) from an extra CSV
  const levels = kind.levels && spec.extra_csv && spec.extra_csv[kind.levels]
    ? parseCsv(spec.extra_csv[kind.levels]).rows.map((r) => ({ label: r[0], v: num(r[1]) })).filter((l) => isFinite(l.v)) : [];
  // y range
  let ys = levels.map((l) => l.v);
  if (kind.type === 'stacked') {
    cats.forEach((_, k) => ys.push(shown.reduce((a, s) => a + (isFinite(s.points[k].y) ? s.points[k].y : 0), 0)));
    const marks = kind.marks ? kind.marks(table.head) : [];
    marks.forEach((c) => table.rows.forEach((r) => ys.push(num(r[table.head.indexOf(c)]))));
  } else shown.forEach((s) => s.points.forEach((p) => ys.push(p.y)));
  ys = ys.filter((v) => isFinite(v) && (!kind.logy || v > 0));
  let y0 = kind.logy ? Math.min(...ys) / 1.5 : 0, y1 = Math.max(...ys, 1e-9) * 1.08;
  if (!ys.length) { y0 = kind.logy ? 0.1 : 0; y1 = 1; }
  const sy = scale(y0, y1, H, T, kind.logy);
  const axis = el('g', { class: 'axis' }, svg);
  for (const v of ticks(y0, y1, kind.logy)) {
    el('line', { x1: L, x2: W - R, y1: sy(v), y2: sy(v), class: 'grid' }, axis);
    el('text', { x: L - 6, y: sy(v) + 4, 'text-anchor': 'end' }, axis).textContent = fmt(v);
  }
  const ylab = el('text', { x: 14, y: (H + T) / 2, transform: `rotate(-90 14 ${(H + T) / 2})`, 'text-anchor': 'middle' }, axis);
  ylab.textContent = kind.y || '';

  if (categorical) {
    const bw = (W - L - R) / Math.max(1, cats.length);
    cats.forEach((c, k) => {
      const x = L + bw * (k + 0.5);
      const t = el('text', { x, y: H + 14, 'text-anchor': 'end', transform: `rotate(-35 ${x} ${H + 14})` }, axis);
      t.textContent = c.length > 34 ? c.slice(0, 33) + '…' : c;
    });
    const plot = el('g', {}, svg);
    if (kind.type === 'bars') {
      const inner = (bw * 0.8) / Math.max(1, shown.length);
      shown.forEach((s) => {
        const color = COLORS[all.indexOf(s) % COLORS.length];
        s.points.forEach((p, k) => {
          if (!isFinite(p.y) || (kind.logy && p.y <= 0)) return;
          const x = L + bw * k + bw * 0.1 + inner * shown.indexOf(s);
          const r = el('rect', { x, y: sy(p.y), width: Math.max(1, inner - 1), height: Math.max(0, H - sy(p.y)), fill: color }, plot);
          hover(r, `${p.label} · ${s.name}: ${fmt(p.y)}`);
        });
      });
    } else {
      const base = cats.map(() => 0);
      shown.forEach((s) => {
        const color = COLORS[all.indexOf(s) % COLORS.length];
        s.points.forEach((p, k) => {
          if (!isFinite(p.y) || p.y <= 0) return;
          const top = base[k] + p.y;
          const r = el('rect', { x: L + bw * k + bw * 0.15, y: sy(top), width: bw * 0.7, height: Math.max(0, sy(base[k]) - sy(top)), fill: color }, plot);
          hover(r, `${p.label} · ${s.name}: ${fmt(p.y)}`);
          base[k] = top;
        });
      });
      for (const c of kind.marks ? kind.marks(table.head) : []) {
        const i = table.head.indexOf(c);
        table.rows.forEach((r, k) => {
          const v = num(r[i]);
          if (!isFinite(v)) return;
          const m = el('line', { x1: L + bw * k + bw * 0.05, x2: L + bw * (k + 0.95), y1: sy(v), y2: sy(v), class: 'mark' }, plot);
          hover(m, `${r[0]} · ${c}: ${fmt(v)}`);
        });
      }
    }
  } else {
    let xs = [];
    shown.forEach((s) => s.points.forEach((p) => { if (isFinite(p.x) && isFinite(p.y)) xs.push(p.x); }));
    xs = xs.filter((v) => !kind.logx || v > 0);
    const x0 = xs.length ? Math.min(...xs) / (kind.logx ? 1.3 : 1) : 0, x1 = xs.length ? Math.max(...xs) * (kind.logx ? 1.3 : 1.05) : 1;
    const sx = scale(x0, x1, L, W - R, kind.logx);
    for (const v of ticks(x0, x1, kind.logx)) {
      el('line', { x1: sx(v), x2: sx(v), y1: T, y2: H, class: 'grid' }, axis);
      el('text', { x: sx(v), y: H + 16, 'text-anchor': 'middle' }, axis).textContent = fmt(v);
    }
    el('text', { x: (L + W) / 2, y: H + 36, 'text-anchor': 'middle' }, axis).textContent = kind.x || table.head[0];
    const plot = el('g', {}, svg);
    // fronts: blocks of "# NAME: ..." then rows (x, y, label), joined by a line in NAME's colour
    if (kind.fronts && spec.extra_csv && spec.extra_csv[kind.fronts]) {
      let name = null;
      const blocks = {};
      for (const line of spec.extra_csv[kind.fronts].split('\n')) {
        const m = /^# ([^:]+):/.exec(line);
        if (m) name = m[1];
        else if (name && line && line[0] !== '#') (blocks[name] = blocks[name] || []).push(line.split(',').map(Number));
      }
      for (const [n, rows] of Object.entries(blocks)) {
        const s = shown.find((x) => x.name === `${n} tok/s`);
        if (!s) continue;
        const pts = rows.filter((r) => r[0] > 0 && r[1] > 0).sort((a, b) => a[0] - b[0]);
        el('polyline', { points: pts.map((r) => `${sx(r[0])},${sy(r[1])}`).join(' '), fill: 'none',
          stroke: COLORS[all.indexOf(s) % COLORS.length], 'stroke-width': 1.5, class: 'front' }, plot);
      }
    }
    shown.forEach((s) => {
      const color = COLORS[all.indexOf(s) % COLORS.length];
      const pts = s.points.filter((p) => isFinite(p.x) && isFinite(p.y) && (!kind.logx || p.x > 0) && (!kind.logy || p.y > 0));
      if (kind.type === 'lines' && pts.length > 1)
        el('polyline', { points: pts.map((p) => `${sx(p.x)},${sy(p.y)}`).join(' '), fill: 'none', stroke: color, 'stroke-width': 2 }, plot);
      pts.forEach((p) => {
        const c = el('circle', { cx: sx(p.x), cy: sy(p.y), r: kind.type === 'lines' ? 3 : 5, fill: color }, plot);
        hover(c, kind.type === 'lines' ? `${s.name} at ${fmt(p.x)}: ${fmt(p.y)}` : `${p.label} · ${s.name}: ${fmt(p.x)}, ${fmt(p.y)}`);
      });
    });
  }
  for (const l of levels) {
    const g = el('g', {}, svg);
    el('line', { x1: L, x2: W - R, y1: sy(l.v), y2: sy(l.v), class: 'mark' }, g);
    el('text', { x: W - R - 2, y: sy(l.v) - 3, 'text-anchor': 'end', class: 'level' }, g).textContent = l.label;
    hover(g, `${l.label}: ${fmt(l.v)}`);
  }
  el('line', { x1: L, x2: W - R, y1: H, y2: H, class: 'baseline' }, axis);

  const legend = document.createElement('div');
  legend.className = 'legend';
  all.forEach((s, i) => {
    const b = document.createElement('button');
    b.type = 'button';
    b.setAttribute('aria-pressed', hidden.has(s.name) ? 'false' : 'true');
    b.innerHTML = `<span class="swatch" style="background:${COLORS[i % COLORS.length]}"></span>`;
    b.appendChild(document.createTextNode(s.name));
    b.addEventListener('click', () => {
      if (hidden.has(s.name)) hidden.delete(s.name); else hidden.add(s.name);
      drawChart(container, spec, hidden);
    });
    legend.appendChild(b);
  });
  container.appendChild(legend);
}

if (typeof module !== 'undefined') module.exports = { parseCsv, ticks, drawChart, KINDS };
