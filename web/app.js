// sketchgloc's "look inside a model" page. Plain JS, no library, no network but the local API.
// A sketch is a list of strokes, each a list of absolute [x, y] points in the data's raw units
// (y downwards, as drawn); the API takes and gives stroke-3 rows [dx, dy, pen_lifted].
"use strict";

const SVG_NS = "http://www.w3.org/2000/svg";
const COLOURS = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2",
  "#7f7f7f", "#bcbd22", "#17becf"];
const DEFAULT_BOX = [-128, -128, 256, 256];
const $ = (id) => document.getElementById(id);

const state = {
  info: null, strokes: [], undisrupted: null, graph: null, graphVersion: -1, version: 0,
  chosen: -1, drag: null, drawing: null, generated: [], sketchB: null, interp: [], animation: 0,
};

// ---------------------------------------------------------------- errors and status

let pageErrors = 0;
function countError(message) {
  pageErrors += 1;
  const el = $("errors");
  el.hidden = false;
  el.dataset.count = String(pageErrors);
  el.textContent = `${pageErrors} page error(s): ${message}`;
}
window.addEventListener("error", (e) => countError(e.message));
window.addEventListener("unhandledrejection", (e) => countError(String(e.reason)));

function status(text, isError = false) {
  const el = $("status");
  el.textContent = text;
  el.classList.toggle("error", isError);
}

async function api(path, body) {
  const init = body === undefined ? {} : {
    method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body) };
  const response = await fetch(path, init);
  const data = await response.json();
  if (!response.ok) throw new Error(data.error || `HTTP ${response.status}`);
  return data;
}

// Runs an API action; a refused request is shown in the status line (not a page error).
async function act(label, work) {
  status(`${label}…`);
  try {
    await work();
    status(`${label}: done`);
  } catch (err) {
    status(`${label}: ${err.message}`, true);
  }
}

// ---------------------------------------------------------------- sketch formats

function toStroke3(strokes) {
  const rows = [];
  let px = 0, py = 0;
  for (const stroke of strokes) {
    stroke.forEach(([x, y], i) => {
      rows.push([+(x - px).toFixed(2), +(y - py).toFixed(2), i === stroke.length - 1 ? 1 : 0]);
      px = x; py = y;
    });
  }
  return rows;
}

function fromStroke3(rows) {
  const strokes = [];
  let x = 0, y = 0, current = [];
  for (const [dx, dy, pen] of rows) {
    x += dx; y += dy;
    current.push([x, y]);
    if (pen === 1) { strokes.push(current); current = []; }
  }
  if (current.length) strokes.push(current);
  return strokes;
}

// Ramer-Douglas-Peucker on one stroke (QuickDraw's simplified data used epsilon 2).
function rdp(points, epsilon) {
  if (points.length < 3) return points.slice();
  const [ax, ay] = points[0], [bx, by] = points[points.length - 1];
  const len = Math.hypot(bx - ax, by - ay);
  let far = 0, index = 0;
  for (let i = 1; i < points.length - 1; i++) {
    const [x, y] = points[i];
    const d = len === 0 ? Math.hypot(x - ax, y - ay)
      : Math.abs((bx - ax) * (ay - y) - (ax - x) * (by - ay)) / len;
    if (d > far) { far = d; index = i; }
  }
  if (far <= epsilon) return [points[0], points[points.length - 1]];
  return rdp(points.slice(0, index + 1), epsilon).slice(0, -1).concat(rdp(points.slice(index), epsilon));
}

function countPoints(strokes) { return strokes.reduce((n, s) => n + s.length, 0); }

// Simplify until the sketch fits the model's max_seq_len points.
function fitPoints(strokes) {
  const limit = state.info ? state.info.max_points : 150;
  let out = strokes, epsilon = 2;
  while (countPoints(out) > limit && epsilon < 256) {
    out = strokes.map((s) => rdp(s, epsilon));
    epsilon *= 1.5;
  }
  while (countPoints(out) > limit) out = out.slice(0, -1);  // very many strokes: drop the last
  return out;
}

function bounds(strokes) {
  const pts = strokes.flat();
  if (!pts.length) return null;
  const xs = pts.map((p) => p[0]), ys = pts.map((p) => p[1]);
  return [Math.min(...xs), Math.min(...ys), Math.max(...xs), Math.max(...ys)];
}

// A square view holding the sketch (and the default drawing box for the input).
function viewBox(strokes, withDefault) {
  const b = bounds(strokes);
  let [x0, y0, x1, y1] = withDefault || !b ? [-128, -128, 128, 128] : b;
  if (b) { x0 = Math.min(x0, b[0]); y0 = Math.min(y0, b[1]); x1 = Math.max(x1, b[2]); y1 = Math.max(y1, b[3]); }
  const size = Math.max(x1 - x0, y1 - y0, 1) * 1.1;
  const cx = (x0 + x1) / 2, cy = (y0 + y1) / 2;
  return [cx - size / 2, cy - size / 2, size, size];
}

// ---------------------------------------------------------------- drawing helpers

function el(name, attrs = {}, parent = null) {
  const node = document.createElementNS(SVG_NS, name);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, v);
  if (parent) parent.appendChild(node);
  return node;
}

function polyline(points, colour, parent, attrs = {}) {
  return el("polyline", {
    points: points.map(([x, y]) => `${x.toFixed(2)},${y.toFixed(2)}`).join(" "), stroke: colour, ...attrs,
  }, parent);
}

function drawSketch(svg, strokes, colour = "#000", box = null) {
  svg.replaceChildren();
  svg.setAttribute("viewBox", (box || viewBox(strokes, false)).join(" "));
  // A one-point stroke is drawn as a dot: a polyline from the point to itself.
  for (const s of strokes) polyline(s.length === 1 ? [s[0], s[0]] : s, colour, svg);
}

// A standalone SVG file of a sketch (black on white), for downloads.
function svgFile(strokes) {
  const box = viewBox(strokes, false);
  const lines = strokes.map((s) => `<polyline points="${s.map(([x, y]) => `${x.toFixed(2)},${y.toFixed(2)}`)
    .join(" ")}" fill="none" stroke="black" stroke-width="${(box[2] / 128).toFixed(3)}" ` +
    'stroke-linecap="round" stroke-linejoin="round"/>');
  return `<svg xmlns="${SVG_NS}" viewBox="${box.join(" ")}" width="256" height="256">` +
    `<rect x="${box[0]}" y="${box[1]}" width="${box[2]}" height="${box[3]}" fill="white"/>` +
    `${lines.join("")}</svg>\n`;
}

function download(name, text) {
  const url = URL.createObjectURL(new Blob([text], { type: "image/svg+xml" }));
  const a = document.createElement("a");
  a.href = url; a.download = name;
  document.body.appendChild(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 1000);
}

// ---------------------------------------------------------------- the input and its graph

function changed() {
  state.version += 1;
  state.chosen = -1;
  renderInput();
  refreshGraph();
}

function renderInput() {
  const svg = $("input");
  const nodes = state.graphVersion === state.version && state.graph ? state.graph.nodes : null;
  svg.replaceChildren();
  if (!state.drawing && !state.drag) svg.setAttribute("viewBox", viewBox(state.strokes, true).join(" "));
  const layer = el("g", { id: "grid-layer" }, svg);
  const fontSize = Number(svg.getAttribute("viewBox").split(" ")[2]) / 36;  // labels keep their screen size
  if (nodes) {
    nodes.forEach((node, i) => {
      const pts = node.points.length === 1 ? [node.points[0], node.points[0]] : node.points;
      polyline(pts, COLOURS[i % COLOURS.length], svg,
        { class: "node", "data-node": i, "data-stroke": node.stroke });
      const label = el("text", { x: node.points[0][0], y: node.points[0][1] - fontSize / 4,
        class: "node-label", "font-size": fontSize.toFixed(2) }, svg);
      label.textContent = String(i);
    });
  } else {
    state.strokes.forEach((s, i) => polyline(s.length === 1 ? [s[0], s[0]] : s, "#000", svg,
      { class: "node", "data-stroke": i }));
  }
  if (nodes && state.chosen >= 0 && state.chosen < nodes.length) showGrid(layer, state.chosen);
  else renderCells();
  const used = state.graph && nodes ? `, ${state.graph.used} of ${nodes.length} nodes read by the model` : "";
  $("input-info").textContent = `${state.strokes.length} strokes, ${countPoints(state.strokes)} points${used}`;
}

async function refreshGraph() {
  if (!state.strokes.length) { state.graph = null; renderCells(); return; }
  const version = state.version;
  try {
    const graph = await api("/api/graph", { strokes: toStroke3(state.strokes) });
    if (version !== state.version) return;  // the sketch changed meanwhile
    state.graph = graph;
    state.graphVersion = version;
    renderInput();
  } catch (err) {
    status(`graph: ${err.message}`, true);
  }
}

// The chosen node's box cut the plane into 3x3 cells (k = 3 * column + row, rows downwards).
function showGrid(layer, i) {
  const { nodes, cells } = state.graph;
  const [x0, x1, y0, y1] = nodes[i].box;
  const [vx, vy, vw, vh] = $("input").getAttribute("viewBox").split(" ").map(Number);
  const xs = [vx, x0, x1, vx + vw], ys = [vy, y0, y1, vy + vh];
  for (const x of [x0, x1]) el("line", { x1: x, x2: x, y1: vy, y2: vy + vh, class: "grid-line" }, layer);
  for (const y of [y0, y1]) el("line", { x1: vx, x2: vx + vw, y1: y, y2: y, class: "grid-line" }, layer);
  for (let k = 0; k < 9; k++) {
    const c = Math.floor(k / 3), r = k % 3;
    const label = el("text", { x: xs[c] + vw / 150, y: ys[r] + vw / 30, class: "cell-label",
      "font-size": (vw / 30).toFixed(2) }, layer);
    label.textContent = `k${k}: ${cells[i][k].join(",") || "-"}`;
  }
  $("input").querySelectorAll(".node").forEach((p) => {
    const j = Number(p.dataset.node);
    p.classList.toggle("chosen", j === i);
    p.classList.toggle("dim", j !== i && !cells[i].some((cell) => cell.includes(j)));
  });
  renderCells();
}

function renderCells() {
  const table = $("cells");
  table.replaceChildren();
  const i = state.chosen;
  if (!state.graph || i < 0 || i >= state.graph.nodes.length) {
    $("graph-info").textContent = "Hover or tap a stroke (a graph node) to see its 3x3 grid.";
    return;
  }
  const node = state.graph.nodes[i];
  $("graph-info").textContent = `node ${i} (stroke ${node.stroke}): the nodes reaching each cell ` +
    "of its grid (cell k = 3 x column + row)";
  for (let r = 0; r < 3; r++) {
    const tr = document.createElement("tr");
    for (let c = 0; c < 3; c++) {
      const k = 3 * c + r, td = document.createElement("td");
      td.textContent = `k${k}: ${state.graph.cells[i][k].join(", ") || "-"}`;
      td.dataset.cell = String(k);
      if (c === 1 && r === 1) td.classList.add("self");
      tr.appendChild(td);
    }
    table.appendChild(tr);
  }
}

function choose(i) {
  if (state.chosen === i) return;
  state.chosen = i;
  renderInput();
}

function svgPoint(svg, event) {
  const p = new DOMPoint(event.clientX, event.clientY).matrixTransform(svg.getScreenCTM().inverse());
  return [p.x, p.y];
}

function mode() { return document.querySelector("input[name=mode]:checked").value; }

function onPointerDown(event) {
  const svg = $("input");
  const target = event.target.closest ? event.target.closest(".node") : null;
  if (target && target.dataset.node !== undefined) choose(Number(target.dataset.node));
  svg.setPointerCapture(event.pointerId);
  const p = svgPoint(svg, event);
  if (mode() === "move") {
    if (!target) return;
    state.drag = { stroke: Number(target.dataset.stroke), last: p };
  } else {
    state.drawing = [p];
    state.tapOnNode = Boolean(target);  // a tap on a node chooses it, it draws no dot
    state.strokes.push(state.drawing);
    state.undisrupted = null;
    renderInput();
  }
  event.preventDefault();
}

function onPointerMove(event) {
  const svg = $("input");
  if (!state.drawing && !state.drag) {
    const target = event.target.closest ? event.target.closest(".node") : null;
    if (target && target.dataset.node !== undefined) choose(Number(target.dataset.node));
    return;
  }
  const p = svgPoint(svg, event);
  if (state.drawing) {
    const last = state.drawing[state.drawing.length - 1];
    if (Math.hypot(p[0] - last[0], p[1] - last[1]) >= 1) { state.drawing.push(p); renderInput(); }
  } else {
    const { stroke, last } = state.drag;
    const dx = p[0] - last[0], dy = p[1] - last[1];
    state.strokes[stroke] = state.strokes[stroke].map(([x, y]) => [x + dx, y + dy]);
    state.drag.last = p;
    state.graphVersion = -1;  // the nodes moved: draw plain strokes until the graph is back
    renderInput();
  }
}

function onPointerUp() {
  if (state.drawing) {
    const i = state.strokes.indexOf(state.drawing);
    const tap = state.drawing.length === 1 && state.tapOnNode;
    state.drawing = null;
    if (tap) { state.strokes.splice(i, 1); state.graphVersion = state.version; renderInput(); return; }
    if (i >= 0) state.strokes[i] = rdp(state.strokes[i], 2);
    state.strokes = fitPoints(state.strokes);
    changed();
  } else if (state.drag) {
    state.drag = null;
    changed();
  }
}

function setInput(strokes) {
  state.strokes = strokes;
  state.undisrupted = null;
  changed();
}

// ---------------------------------------------------------------- generation

function animate(svg, strokes, counter) {
  cancelAnimationFrame(state.animation);
  svg.replaceChildren();
  svg.setAttribute("viewBox", viewBox(strokes, false).join(" "));
  const total = countPoints(strokes);
  counter.dataset.done = "0";
  counter.dataset.points = String(total);
  let shown = 0;
  const lines = strokes.map(() => null);
  const step = () => {
    shown = Math.min(total, shown + 2);  // two points a frame: a 150-point sketch in about 1.3 s
    let left = shown;
    strokes.forEach((s, i) => {
      const n = Math.min(s.length, Math.max(left, 0));
      left -= s.length;
      if (n > 0) {
        const pts = n === 1 ? [s[0], s[0]] : s.slice(0, n);
        if (!lines[i]) lines[i] = polyline(pts, "#000", svg, { "data-stroke": i });
        else lines[i].setAttribute("points", pts.map(([x, y]) => `${x.toFixed(2)},${y.toFixed(2)}`).join(" "));
      }
    });
    counter.textContent = `${shown} / ${total} points drawn`;
    if (shown < total) state.animation = requestAnimationFrame(step);
    else counter.dataset.done = "1";
  };
  if (total === 0) { counter.textContent = "the model drew nothing"; counter.dataset.done = "1"; return; }
  step();
}

function decoding() {
  const seed = Number($("seed").value);
  return { temperature: Number($("temperature").value), greedy: $("greedy").checked,
    seed: Number.isInteger(seed) && seed >= 0 ? seed : 0 };
}

async function redraw() {
  if (!state.strokes.length) { status("draw or load a sketch first", true); return; }
  $("gen-count").dataset.done = "0";  // until this request's sketch is fully drawn
  await act("redraw", async () => {
    const data = await api("/api/redraw", { strokes: toStroke3(state.strokes), re_scale: 0, ...decoding() });
    state.generated = fromStroke3(data.strokes);
    animate($("output"), state.generated, $("gen-count"));
  });
}

async function disrupt() {
  if (!state.strokes.length) return;
  await act("disrupt", async () => {
    const seed = decoding().seed + state.version;  // a new draw on each press, reproducible from the seed
    const data = await api("/api/disrupt", { strokes: toStroke3(state.strokes),
      re_scale: Number($("re-scale").value), seed });
    const before = state.undisrupted || state.strokes;
    state.strokes = fromStroke3(data.strokes);
    state.undisrupted = before;
    state.version += 1; state.chosen = -1; renderInput(); refreshGraph();
  });
}

async function loadSample(target) {
  const category = $("category").value;
  await act(`random ${category}`, async () => {
    const data = await api(`/api/sample?category=${encodeURIComponent(category)}`);
    const strokes = fromStroke3(data.strokes);
    if (target === "b") { state.sketchB = strokes; drawSketch($("sketch-b"), strokes, "#1f77b4"); }
    else setInput(strokes);
  });
}

async function interpolate() {
  if (!state.strokes.length || !state.sketchB) { status("need an input and a sketch B", true); return; }
  await act("interpolate", async () => {
    const data = await api("/api/interpolate", { a: toStroke3(state.strokes), b: toStroke3(state.sketchB),
      steps: 9, mode: $("interp-mode").value, ...decoding() });
    state.interp = data.sketches.map(fromStroke3);
    const slider = $("interp-t");
    slider.max = String(state.interp.length - 1);
    slider.disabled = false;
    showInterp(Number(slider.value), data.ts);
    slider.oninput = () => showInterp(Number(slider.value), data.ts);
  });
}

function showInterp(i, ts) {
  drawSketch($("interp"), state.interp[i] || []);
  $("interp-t-out").textContent = ts[i].toFixed(2);
}

// ---------------------------------------------------------------- wiring

function wire() {
  const input = $("input");
  input.addEventListener("pointerdown", onPointerDown);
  input.addEventListener("pointermove", onPointerMove);
  input.addEventListener("pointerup", onPointerUp);
  input.addEventListener("pointercancel", onPointerUp);
  $("clear").onclick = () => setInput([]);
  $("undo").onclick = () => { state.strokes = state.strokes.slice(0, -1); changed(); };
  $("random").onclick = () => loadSample("input");
  $("random-b").onclick = () => loadSample("b");
  $("set-b").onclick = () => {
    state.sketchB = state.strokes.map((s) => s.slice());
    drawSketch($("sketch-b"), state.sketchB, "#1f77b4");
  };
  $("disrupt").onclick = disrupt;
  $("restore").onclick = () => { if (state.undisrupted) setInput(state.undisrupted); };
  $("redraw").onclick = redraw;
  $("interpolate").onclick = interpolate;
  for (const id of ["re-scale", "temperature"]) {
    $(id).oninput = () => { $(`${id}-out`).textContent = $(id).value; };
  }
  $("download-input").onclick = () => download("input.svg", svgFile(state.strokes));
  $("download-output").onclick = () => download("generated.svg", svgFile(state.generated));
}

async function start() {
  wire();
  renderInput();
  await act("connect", async () => {
    state.info = await api("/api/categories");
    for (const [i, name] of state.info.categories.entries()) {
      const option = document.createElement("option");
      option.value = name;
      option.textContent = `${name} (${state.info.counts[i]} test sketches)`;
      $("category").appendChild(option);
    }
  });
  document.body.dataset.ready = "1";
}

start();
