/// The dashboard's page: one self-contained HTML document (no CDN, no downloaded asset).
/// Its script draws every chart as SVG and puts every name from the engine (groups, kinds)
/// into the page with `textContent`, never as markup, so a group called `<script>` shows as
/// text. It loads `/api/history` once, then appends each `snapshot` event of `/events`.
enum DashboardPage {
    static let html = #"""
<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Conveyor dashboard</title>
<style>
  :root { --bg:#0f1419; --card:#171d24; --line:#2a333d; --text:#d7dde3; --dim:#8b97a3; }
  * { box-sizing: border-box; }
  body { margin:0; font:14px/1.4 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; background:var(--bg); color:var(--text); }
  header { display:flex; flex-wrap:wrap; gap:24px; align-items:baseline; padding:14px 20px; border-bottom:1px solid var(--line); }
  header h1 { font-size:18px; margin:0; }
  .figure-big { font-size:22px; font-weight:600; font-variant-numeric: tabular-nums; }
  .dim { color:var(--dim); }
  #status.ok { color:#5fd38d; } #status.down { color:#ff7b72; }
  main { display:grid; grid-template-columns:repeat(auto-fill, minmax(460px, 1fr)); gap:14px; padding:14px 20px; }
  figure { margin:0; background:var(--card); border:1px solid var(--line); border-radius:8px; padding:10px 12px; }
  figcaption { font-weight:600; margin-bottom:4px; }
  svg.chart { width:100%; height:190px; display:block; }
  svg text { fill:var(--dim); font-size:10px; }
  .legend { display:flex; flex-wrap:wrap; gap:10px; font-size:12px; color:var(--dim); min-height:16px; }
  .legend i { display:inline-block; width:10px; height:10px; border-radius:2px; margin-right:4px; vertical-align:-1px; }
  table { width:100%; border-collapse:collapse; font-variant-numeric: tabular-nums; }
  th, td { text-align:right; padding:3px 6px; border-bottom:1px solid var(--line); white-space:nowrap; }
  th:first-child, td:first-child { text-align:left; }
  th { color:var(--dim); font-weight:500; }
  .wide { grid-column: 1 / -1; }
  [hidden] { display:none !important; }
  td.firing { color:#ff7b72; font-weight:600; } td.resolved { color:#5fd38d; }
  td.critical { color:#ff7b72; } td.warning { color:#f2a93b; }
  td.message { text-align:left; white-space:normal; color:var(--dim); }
  .empty { color:var(--dim); text-align:left; }
</style>
</head>
<body>
<header>
  <h1>Conveyor</h1>
  <span>throughput <span id="throughput-total" class="figure-big">–</span> <span class="dim">tasks/s</span></span>
  <span>queued <span id="queued-total" class="figure-big">–</span></span>
  <span>workers <span id="workers-total" class="figure-big">–</span></span>
  <span class="dim">uptime <span id="uptime">–</span> · reading <span id="sequence">–</span></span>
  <span id="status" class="down">connecting…</span>
</header>
<main>
  <figure><figcaption>Throughput per group <span class="dim">(tasks/s)</span></figcaption>
    <svg class="chart" id="chart-throughput"></svg><div class="legend" id="legend-throughput"></div></figure>
  <figure><figcaption>Queue depth <span class="dim">(tasks waiting)</span></figcaption>
    <svg class="chart" id="chart-queue"></svg><div class="legend" id="legend-queue"></div></figure>
  <figure><figcaption>Latency percentiles, all groups <span class="dim">(per interval)</span></figcaption>
    <svg class="chart" id="chart-latency"></svg><div class="legend" id="legend-latency"></div></figure>
  <figure><figcaption>Latency distribution <span class="dim" id="histogram-window">(last readings)</span></figcaption>
    <svg class="chart" id="chart-histogram"></svg><div class="legend" id="legend-histogram"></div></figure>
  <figure><figcaption>Workers per group <span class="dim">(dots: scaler decisions)</span></figcaption>
    <svg class="chart" id="chart-workers"></svg><div class="legend" id="legend-workers"></div></figure>
  <figure><figcaption>Arrivals: target, offered, forecast <span class="dim">(tasks/s)</span></figcaption>
    <svg class="chart" id="chart-load"></svg><div class="legend" id="legend-load"></div></figure>
  <figure id="section-forecast" hidden><figcaption>Scaler: forecast against actual arrivals <span class="dim">(tasks/s per group; dashed: forecast made one interval earlier)</span></figcaption>
    <svg class="chart" id="chart-forecast"></svg><div class="legend" id="legend-forecast"></div></figure>
  <figure id="section-cache" hidden><figcaption>Result cache <span class="dim">(hit ratio per interval, %; the legend: since start, lookups/s)</span></figcaption>
    <svg class="chart" id="chart-cache"></svg><div class="legend" id="legend-cache"></div></figure>
  <figure><figcaption>CPU <span class="dim">(% of one core)</span></figcaption>
    <svg class="chart" id="chart-cpu"></svg><div class="legend" id="legend-cpu"></div></figure>
  <figure><figcaption>Memory <span class="dim">(MiB)</span></figcaption>
    <svg class="chart" id="chart-memory"></svg><div class="legend" id="legend-memory"></div></figure>
  <figure class="wide" id="section-batches" hidden><figcaption>Batches <span class="dim">(added wait: a worker taking a task → its batch's call, since registration)</span></figcaption>
    <table id="batches"><thead><tr><th>kind</th><th>group</th><th>batches/s</th><th>batches</th><th>tasks</th><th>mean size</th><th>max size</th><th>pending</th><th>failed</th><th>added wait p50</th><th>p99</th></tr></thead><tbody></tbody></table></figure>
  <figure class="wide" id="section-caches" hidden><figcaption>Caches</figcaption>
    <table id="caches"><thead><tr><th>cache</th><th>hit ratio</th><th>interval</th><th>lookups/s</th><th>hits</th><th>misses</th><th>coalesced</th><th>evictions</th><th>expirations</th><th>rejections</th><th>entries</th><th>KiB</th></tr></thead><tbody></tbody></table></figure>
  <figure class="wide" id="section-alerts" hidden><figcaption>Alerts <span class="dim" id="alerts-summary"></span></figcaption>
    <table id="alerts-active"><thead><tr><th>active</th><th>severity</th><th>group</th><th>since</th><th>value</th><th class="message">message</th></tr></thead><tbody></tbody></table>
    <table id="alerts-recent"><thead><tr><th>recent events</th><th>state</th><th>severity</th><th>group</th><th>when</th><th>value</th><th class="message">message</th></tr></thead><tbody></tbody></table></figure>
  <figure class="wide" id="section-decisions" hidden><figcaption>Scaler decisions <span class="dim" id="scaler-summary"></span></figcaption>
    <table id="scaled-groups"><thead><tr><th>group</th><th>mode</th><th>workers</th><th>decided</th><th>range</th><th>arrivals/s</th><th>forecast/s</th><th>next/s</th><th>next upper/s</th><th>accuracy</th><th>out</th><th>in</th></tr></thead><tbody></tbody></table>
    <table id="decisions"><thead><tr><th>when</th><th>group</th><th>from → to</th><th>reason</th><th>provisioned/s</th><th>observed/s</th><th>applied</th></tr></thead><tbody></tbody></table></figure>
  <figure class="wide"><figcaption>Groups</figcaption>
    <table id="groups"><thead><tr><th>group</th><th>workers</th><th>range</th><th>queued</th><th>tasks/s</th>
      <th>completed</th><th>failed</th><th>cancelled</th><th>expired</th><th>wait p99</th><th>service p50</th><th>service p99</th></tr></thead><tbody></tbody></table></figure>
  <figure class="wide"><figcaption>Kinds</figcaption>
    <table id="kinds"><thead><tr><th>kind</th><th>tasks/s</th><th>completed</th><th>failed</th><th>mean service</th></tr></thead><tbody></tbody></table></figure>
</main>
<script>
"use strict";
const SVG = "http://www.w3.org/2000/svg";
const PALETTE = ["#4ea1ff", "#f2a93b", "#5fd38d", "#d57bff", "#ff7b72", "#3fd0d4", "#e6d85c", "#a3b1bf"];
const LIMIT = 300;
const history = [];

function node(tag, attributes, text) {
  const element = document.createElementNS(SVG, tag);
  for (const key in attributes) element.setAttribute(key, String(attributes[key]));
  if (text !== undefined) element.textContent = text;
  return element;
}
function rate(value) {
  if (value >= 1e6) return (value / 1e6).toFixed(2) + "M";
  if (value >= 1e4) return (value / 1e3).toFixed(1) + "k";
  return value >= 100 ? value.toFixed(0) : value.toFixed(1);
}
function seconds(value) {
  if (value <= 0) return "0";
  if (value < 1e-3) return (value * 1e6).toFixed(value < 1e-5 ? 1 : 0) + " µs";
  if (value < 1) return (value * 1e3).toFixed(value < 1e-2 ? 2 : 1) + " ms";
  return value.toFixed(2) + " s";
}
function plain(value) { return Math.abs(value) >= 1e4 ? rate(value) : (Number.isInteger(value) ? String(value) : value.toFixed(1)); }
function color(index) { return PALETTE[index % PALETTE.length]; }

function legend(id, entries) {
  const box = document.getElementById(id);
  box.replaceChildren();
  for (const entry of entries) {
    const item = document.createElement("span");
    const swatch = document.createElement("i");
    swatch.style.background = entry.color;
    item.append(swatch);
    item.append(document.createTextNode(entry.name + (entry.value !== undefined ? " " + entry.value : "")));
    box.append(item);
  }
}

// A line chart of series [{name, color, dashed, points: [[x, y]]}] against time (x in seconds).
function lineChart(id, series, format, options) {
  const svg = document.getElementById(id);
  const width = svg.clientWidth || 440, height = svg.clientHeight || 190;
  const left = 54, right = 8, top = 8, bottom = 20;
  svg.setAttribute("viewBox", "0 0 " + width + " " + height);
  svg.replaceChildren();
  let xs = [], maxY = (options && options.minMax) || 0, count = 0;
  for (const s of series) for (const p of s.points) { xs.push(p[0]); if (p[1] > maxY) maxY = p[1]; count++; }
  svg.dataset.points = String(count);
  if (xs.length === 0) { svg.append(node("text", {x: width / 2, y: height / 2, "text-anchor": "middle"}, (options && options.empty) || "no data yet")); return; }
  const minX = Math.min(...xs), maxX = Math.max(minX + 1, Math.max(...xs));
  if (maxY <= 0) maxY = 1;
  maxY *= 1.08;
  const sx = x => left + (x - minX) / (maxX - minX) * (width - left - right);
  const sy = y => top + (1 - y / maxY) * (height - top - bottom);
  for (let i = 0; i <= 4; i++) {
    const y = maxY * i / 4;
    svg.append(node("line", {x1: left, x2: width - right, y1: sy(y), y2: sy(y), stroke: "#2a333d"}));
    svg.append(node("text", {x: left - 4, y: sy(y) + 3, "text-anchor": "end"}, format(y)));
  }
  for (let i = 0; i <= 4; i++) {
    const x = minX + (maxX - minX) * i / 4;
    const ago = Math.round(maxX - x);
    svg.append(node("text", {x: sx(x), y: height - 6, "text-anchor": i === 0 ? "start" : (i === 4 ? "end" : "middle")}, ago === 0 ? "now" : "−" + ago + " s"));
  }
  for (const s of series) {
    if (s.points.length === 0) continue;
    const d = s.points.map((p, i) => (i ? "L" : "M") + sx(p[0]).toFixed(1) + " " + sy(p[1]).toFixed(1)).join(" ");
    const path = node("path", {d: d, fill: "none", stroke: s.color, "stroke-width": 1.6});
    if (s.dashed) path.setAttribute("stroke-dasharray", "4 3");
    if (s.step) path.setAttribute("d", s.points.map((p, i) => (i ? "H" + sx(p[0]).toFixed(1) + " V" : "M" + sx(p[0]).toFixed(1) + " ") + sy(p[1]).toFixed(1)).join(" "));
    const title = node("title", {}, s.name);
    path.append(title);
    svg.append(path);
  }
  for (const m of (options && options.markers) || []) {
    if (m.x < minX || m.x > maxX) continue;
    const dot = node("circle", {cx: sx(m.x), cy: sy(m.y), r: 3.5, fill: m.color, stroke: "#0f1419", "stroke-width": 1, class: "marker"});
    dot.append(node("title", {}, m.title));
    svg.append(dot);
  }
}

// Bars per bucket for one or more series [{name, color, counts}], labelled with the bounds.
function barChart(id, bounds, series) {
  const svg = document.getElementById(id);
  const width = svg.clientWidth || 440, height = svg.clientHeight || 190;
  const left = 40, right = 8, top = 8, bottom = 30;
  svg.setAttribute("viewBox", "0 0 " + width + " " + height);
  svg.replaceChildren();
  const buckets = bounds.length + 1;
  let maxY = 0, total = 0;
  for (const s of series) for (const c of s.counts) { if (c > maxY) maxY = c; total += c; }
  svg.dataset.points = String(total);
  if (total === 0) { svg.append(node("text", {x: width / 2, y: height / 2, "text-anchor": "middle"}, "no tasks in the window")); return; }
  const slot = (width - left - right) / buckets, bar = slot / (series.length + 0.5);
  const sy = y => top + (1 - y / maxY) * (height - top - bottom);
  for (let i = 0; i <= 2; i++) {
    const y = maxY * i / 2;
    svg.append(node("line", {x1: left, x2: width - right, y1: sy(y), y2: sy(y), stroke: "#2a333d"}));
    svg.append(node("text", {x: left - 4, y: sy(y) + 3, "text-anchor": "end"}, plain(Math.round(y))));
  }
  series.forEach((s, k) => {
    s.counts.forEach((c, i) => {
      if (c === 0) return;
      const rect = node("rect", {x: left + i * slot + k * bar + bar * 0.25, y: sy(c), width: bar * 0.9, height: Math.max(0.5, sy(0) - sy(c)), fill: s.color});
      rect.append(node("title", {}, s.name + " ≤ " + (i < bounds.length ? seconds(bounds[i]) : "∞") + ": " + c));
      svg.append(rect);
    });
  });
  for (let i = 0; i < buckets; i += 2) {
    svg.append(node("text", {x: left + (i + 0.5) * slot, y: height - 16, "text-anchor": "middle"}, i < bounds.length ? seconds(bounds[i]) : "more"));
  }
  svg.append(node("text", {x: left, y: height - 3}, "bucket upper bound"));
}

function cell(row, text, className) {
  const td = document.createElement("td");
  td.textContent = text;
  if (className) td.className = className;
  row.append(td);
}
// Rows of [text or [text, className]] into a table body; one dim row when there are none.
function fill(selector, rows, empty) {
  const body = document.querySelector(selector + " tbody");
  body.replaceChildren();
  for (const cells of rows) {
    const row = document.createElement("tr");
    row.className = "data-row";
    for (const c of cells) Array.isArray(c) ? cell(row, c[0], c[1]) : cell(row, c);
    body.append(row);
  }
  if (rows.length === 0) {
    const row = document.createElement("tr");
    const td = document.createElement("td");
    td.colSpan = document.querySelectorAll(selector + " th").length;
    td.className = "empty";
    td.textContent = empty;
    row.append(td);
    body.append(row);
  }
}
function ago(now, time) { const s = Math.max(0, Math.round(now - time)); return s === 0 ? "now" : "−" + s + " s"; }
function show(id, visible) { document.getElementById(id).hidden = !visible; }
function optional(value, format) { return value === undefined || value === null ? "–" : format(value); }

function render() {
  if (history.length === 0) return;
  const last = history[history.length - 1];
  const t0 = history[0].time;
  const at = s => s.time - t0;
  document.getElementById("throughput-total").textContent = rate(last.total.throughput);
  document.getElementById("queued-total").textContent = plain(last.total.queued);
  document.getElementById("workers-total").textContent = String(last.total.workers);
  document.getElementById("uptime").textContent = Math.round(last.uptime) + " s";
  document.getElementById("sequence").textContent = String(last.sequence);

  const names = last.groups.map(g => g.name);
  const perGroup = (pick) => names.map((name, i) => ({
    name: name, color: color(i),
    points: history.map(s => { const g = s.groups.find(x => x.name === name); return g ? [at(s), pick(g)] : null; }).filter(p => p)
  }));
  const throughput = perGroup(g => g.throughput);
  throughput.push({name: "all", color: "#a3b1bf", dashed: true, points: history.map(s => [at(s), s.total.throughput])});
  lineChart("chart-throughput", throughput, rate);
  legend("legend-throughput", throughput.map((s, i) => ({name: s.name, color: s.color, value: rate(i < names.length ? last.groups[i].throughput : last.total.throughput)})));

  const queue = perGroup(g => g.queued);
  lineChart("chart-queue", queue, plain);
  legend("legend-queue", queue.map((s, i) => ({name: s.name, color: s.color, value: plain(last.groups[i].queued)})));

  const latency = [
    {name: "service p50", color: color(0), points: history.map(s => [at(s), s.total.serviceTime.p50])},
    {name: "service p95", color: color(1), points: history.map(s => [at(s), s.total.serviceTime.p95])},
    {name: "service p99", color: color(4), points: history.map(s => [at(s), s.total.serviceTime.p99])},
    {name: "queue wait p99", color: color(3), dashed: true, points: history.map(s => [at(s), s.total.queueWait.p99])},
  ];
  lineChart("chart-latency", latency, seconds);
  legend("legend-latency", latency.map(s => ({name: s.name, color: s.color, value: seconds(s.points[s.points.length - 1][1])})));

  barChart("chart-histogram", last.bucketBounds, [
    {name: "service time", color: color(0), counts: last.total.serviceBuckets},
    {name: "queue wait", color: color(3), counts: last.total.queueWaitBuckets},
  ]);
  legend("legend-histogram", [{name: "service time", color: color(0)}, {name: "queue wait", color: color(3)}]);

  const workers = perGroup(g => g.workers).map(s => Object.assign(s, {step: true}));
  const markers = last.scaling ? last.scaling.decisions.map(d => ({x: d.time - t0, y: d.to, color: color(Math.max(0, names.indexOf(d.group))),
    title: d.group + ": " + d.from + " → " + d.to + " (" + d.reason + (d.applied ? "" : ", not applied") + ")"})) : [];
  lineChart("chart-workers", workers, plain, {minMax: 1, markers: markers});
  legend("legend-workers", workers.map((s, i) => ({name: s.name, color: s.color, value: last.groups[i].workers + " (" + last.groups[i].minWorkers + "–" + last.groups[i].maxWorkers + ")"})));

  const withLoad = history.filter(s => s.load);
  const load = [
    {name: "target", color: "#a3b1bf", dashed: true, points: withLoad.map(s => [at(s), s.load.targetPerSecond])},
    {name: "offered", color: color(0), points: withLoad.map(s => [at(s), s.load.offeredPerSecond])},
    {name: "forecast", color: color(1), points: withLoad.filter(s => s.load.forecastPerSecond !== undefined && s.load.forecastPerSecond !== null).map(s => [at(s), s.load.forecastPerSecond])},
  ];
  lineChart("chart-load", load, rate, {empty: "no load source (the application reports none)"});
  legend("legend-load", load.filter(s => s.points.length).map(s => ({name: s.name, color: s.color, value: rate(s.points[s.points.length - 1][1])})));

  // The scaler: forecast against actual arrivals, decisions on the workers chart, tables.
  const withScaling = history.filter(s => s.scaling);
  show("section-forecast", !!last.scaling);
  show("section-decisions", !!last.scaling);
  if (last.scaling) {
    const scaled = last.scaling.groups.map(g => g.name);
    const forecast = [];
    scaled.forEach((name, i) => {
      const index = Math.max(0, names.indexOf(name));
      const pick = (s, f) => { const g = s.scaling.groups.find(x => x.name === name); return g ? f(g) : null; };
      forecast.push({name: name + " actual", color: color(index), points: withScaling.map(s => { const v = pick(s, g => g.observedPerSecond); return v === null ? null : [at(s), v]; }).filter(p => p)});
      forecast.push({name: name + " forecast", color: color(index), dashed: true, points: withScaling.map(s => { const v = pick(s, g => g.forecastPerSecond); return v === null || v === undefined ? null : [at(s), v]; }).filter(p => p)});
    });
    lineChart("chart-forecast", forecast, rate);
    legend("legend-forecast", forecast.filter(s => s.points.length).map(s => ({name: s.name, color: s.color, value: rate(s.points[s.points.length - 1][1])})));
    const groupsScaled = last.scaling.groups;
    fill("#scaled-groups", groupsScaled.map(g => [g.name, g.mode, String(g.workers), optional(g.decidedWorkers, String), g.minWorkers + "–" + g.maxWorkers,
      rate(g.observedPerSecond), optional(g.forecastPerSecond, rate), optional(g.nextForecastPerSecond, rate), optional(g.nextUpperPerSecond, rate),
      optional(g.accuracy, v => (v * 100).toFixed(1) + " %"), String(g.scaleOuts), String(g.scaleIns)]), "no scaled group");
    const decisions = last.scaling.decisions.slice().reverse();
    fill("#decisions", decisions.map(d => [ago(last.time, d.time), d.group, d.from + " → " + d.to, d.reason, rate(d.forecastPerSecond), rate(d.observedPerSecond), d.applied ? "yes" : "no"]), "no decision yet");
    document.getElementById("scaler-summary").textContent = "(" + last.scaling.decisions.length + " latest shown; dots on the workers chart)";
  }

  show("section-alerts", !!last.alerts);
  if (last.alerts) {
    const a = last.alerts;
    fill("#alerts-active", a.active.map(e => [[e.rule, "firing"], [e.severity, e.severity], e.group, ago(last.time, e.time), plain(e.value), [e.message, "message"]]), "no alert firing");
    fill("#alerts-recent", a.recent.map(e => [e.rule, [e.state, e.state], [e.severity, e.severity], e.group, ago(last.time, e.time), plain(e.value), [e.message, "message"]]), "no alert event yet");
    document.getElementById("alerts-summary").textContent = "(" + a.active.length + " firing · " + a.fired + " fired, " + a.resolved + " resolved so far)";
  }

  show("section-batches", !!(last.batches && last.batches.length));
  if (last.batches && last.batches.length) {
    fill("#batches", last.batches.map(b => [b.kind, b.group, rate(b.batchesPerSecond), plain(b.batches), plain(b.tasks),
      b.meanBatchSize.toFixed(1), plain(b.maxBatchSize), plain(b.pending), plain(b.failedTasks), seconds(b.addedWait.p50), seconds(b.addedWait.p99)]), "no batch kind");
  }
  const withCaches = history.filter(s => s.caches && s.caches.length);
  show("section-cache", !!(last.caches && last.caches.length));
  show("section-caches", !!(last.caches && last.caches.length));
  if (last.caches && last.caches.length) {
    const cacheSeries = [];
    last.caches.forEach((c, i) => {
      const pick = (s, f) => { const x = s.caches.find(y => y.name === c.name); return x ? f(x) : null; };
      cacheSeries.push({name: c.name + " hit %", color: color(i + 2), points: withCaches.map(s => { const v = pick(s, x => x.intervalHitRatio); return v === null || v === undefined ? null : [at(s), v * 100]; }).filter(p => p)});
    });
    lineChart("chart-cache", cacheSeries, plain, {minMax: 100});
    legend("legend-cache", last.caches.map((c, i) => ({name: c.name, color: color(i + 2), value: (c.hitRatio * 100).toFixed(1) + " % overall, " + rate(c.lookupsPerSecond) + " lookups/s"})));
    fill("#caches", last.caches.map(c => [c.name, (c.hitRatio * 100).toFixed(1) + " %", optional(c.intervalHitRatio, v => (v * 100).toFixed(1) + " %"), rate(c.lookupsPerSecond),
      plain(c.hits), plain(c.misses), plain(c.coalesced), plain(c.evictions), plain(c.expirations), plain(c.rejections), plain(c.entries), (c.bytes / 1024).toFixed(1)]), "no cache");
  }

  const cpu = [{name: "cpu", color: color(2), points: history.map(s => [at(s), s.process.cpuPercent])}];
  lineChart("chart-cpu", cpu, plain, {minMax: 10});
  legend("legend-cpu", [{name: "cpu %", color: color(2), value: last.process.cpuPercent.toFixed(0)}]);

  const mib = 1024 * 1024;
  const memory = [
    {name: "heap", color: color(0), points: history.map(s => [at(s), s.process.heapBytes / mib])},
    {name: "resident", color: color(1), points: history.map(s => [at(s), s.process.residentBytes / mib])},
  ];
  lineChart("chart-memory", memory, plain);
  legend("legend-memory", [
    {name: "heap", color: color(0), value: (last.process.heapBytes / mib).toFixed(1)},
    {name: "resident", color: color(1), value: (last.process.residentBytes / mib).toFixed(1)},
    {name: "peak", color: "#a3b1bf", value: (last.process.peakResidentBytes / mib).toFixed(1)},
  ]);

  const groups = document.querySelector("#groups tbody");
  groups.replaceChildren();
  for (const g of last.groups.concat([last.total])) {
    const row = document.createElement("tr");
    row.className = "group-row";
    for (const text of [g.name, String(g.workers), g.minWorkers + "–" + g.maxWorkers, plain(g.queued), rate(g.throughput),
      plain(g.completed), plain(g.failed), plain(g.cancelled), plain(g.expired), seconds(g.queueWait.p99), seconds(g.serviceTime.p50), seconds(g.serviceTime.p99)]) cell(row, text);
    groups.append(row);
  }
  const kinds = document.querySelector("#kinds tbody");
  kinds.replaceChildren();
  for (const k of last.kinds) {
    const row = document.createElement("tr");
    for (const text of [k.name, rate(k.throughput), plain(k.completed), plain(k.failed), seconds(k.meanServiceTime)]) cell(row, text);
    kinds.append(row);
  }
}

function add(snapshot) {
  if (history.length && snapshot.sequence <= history[history.length - 1].sequence) return;
  history.push(snapshot);
  while (history.length > LIMIT) history.shift();
  render();
}

function connect() {
  const status = document.getElementById("status");
  const events = new EventSource("/events");
  events.onopen = () => { status.textContent = "live"; status.className = "ok"; };
  events.onerror = () => { status.textContent = "reconnecting…"; status.className = "down"; };
  events.addEventListener("snapshot", event => add(JSON.parse(event.data)));
}

fetch("/api/history").then(r => r.json()).then(list => { for (const s of list) add(s); }).catch(() => {}).finally(connect);
window.addEventListener("resize", render);
</script>
</body>
</html>
"""#
}
