// Bar charts as inline SVG that read: bars scaled to the range, each bar a focusable point whose
// value shows on hover and by keyboard (arrow keys), series told apart by pattern as well as colour.
import { el } from "./api.js";

const SVG = "http://www.w3.org/2000/svg";

function svgEl(tag, attrs, ...children) {
  const node = document.createElementNS(SVG, tag);
  Object.entries(attrs).forEach(([k, v]) => node.setAttribute(k, String(v)));
  children.forEach((c) => node.append(c));
  return node;
}

// buckets: [{label, values: {name: n}}]; series: [{name, label, cls}] drawn side by side in each bucket.
export function barChart(box, { buckets, series, describe }) {
  const width = 720; const height = 160; const pad = 4;
  const max = Math.max(1, ...buckets.flatMap((b) => series.map((s) => b.values[s.name] || 0)));
  const slot = width / Math.max(1, buckets.length);
  const bar = Math.max(1, (slot - 2) / series.length);
  const defs = svgEl("defs", {},
    svgEl("pattern", { id: "hatch", width: 6, height: 6, patternUnits: "userSpaceOnUse", patternTransform: "rotate(45)" },
      svgEl("rect", { width: 6, height: 6, class: "hatch-bg" }), svgEl("line", { x1: 0, y1: 0, x2: 0, y2: 6, class: "hatch-line" })));
  const svg = svgEl("svg", { viewBox: `0 0 ${width} ${height}`, preserveAspectRatio: "none", class: "bars-svg",
    role: "img", "aria-label": describe(max) }, defs);
  [0.25, 0.5, 0.75].forEach((f) => svg.append(svgEl("line", { x1: 0, x2: width, y1: height * f, y2: height * f, class: "grid" })));
  const tip = el("div", { class: "chart-tip", role: "status", "aria-live": "polite", hidden: true });
  const points = [];
  buckets.forEach((bucket, i) => {
    series.forEach((s, j) => {
      const v = bucket.values[s.name] || 0;
      if (!v) return;
      const h = Math.max(1.5, (v / max) * (height - pad));
      svg.append(svgEl("rect", { x: i * slot + 1 + j * bar, y: height - h, width: bar, height: h, class: `bar bar-${s.cls}` }));
    });
    const text = `${bucket.label}: ` + series.map((s) => `${bucket.values[s.name] || 0} ${s.label}`).join(", ");
    const hit = svgEl("rect", { x: i * slot, y: 0, width: slot, height, class: "hit", "data-index": i },
      svgEl("title", {}, document.createTextNode(text)));
    hit.dataset.text = text;
    points.push(hit);
    svg.append(hit);
  });
  const wrap = el("div", { class: "bars-wrap" });
  const axis = el("div", { class: "chart-axis muted", "aria-hidden": "true" },
    el("span", { text: buckets.length ? buckets[0].label : "" }),
    el("span", { class: "chart-max", text: `max ${max.toLocaleString()}` }),
    el("span", { text: buckets.length ? buckets[buckets.length - 1].label : "" }));
  const legend = el("p", { class: "legend" }, ...series.map((s) => el("span", { class: `key key-${s.cls}`, text: s.label })));
  // The keyboard walks the buckets: one tab stop, arrows move, the value is read out.
  const focusable = el("div", { class: "bars-focus", tabIndex: 0, role: "group",
    "aria-label": "Chart values: use the left and right arrow keys" });
  let current = buckets.length - 1;
  function showTip(i) {
    if (i < 0 || i >= points.length) return;
    current = i;
    points.forEach((p) => p.classList.remove("active"));
    points[i].classList.add("active");
    tip.textContent = points[i].dataset.text;
    tip.hidden = false;
  }
  svg.addEventListener("mousemove", (event) => {
    const target = event.target.closest(".hit");
    if (target) showTip(Number(target.dataset.index));
  });
  svg.addEventListener("mouseleave", () => { tip.hidden = true; });
  focusable.addEventListener("keydown", (event) => {
    if (event.key === "ArrowLeft") { showTip(Math.max(0, current - 1)); event.preventDefault(); }
    if (event.key === "ArrowRight") { showTip(Math.min(points.length - 1, current + 1)); event.preventDefault(); }
    if (event.key === "Home") { showTip(0); event.preventDefault(); }
    if (event.key === "End") { showTip(points.length - 1); event.preventDefault(); }
  });
  focusable.addEventListener("focus", () => showTip(current));
  focusable.addEventListener("blur", () => { tip.hidden = true; });
  focusable.append(svg);
  wrap.append(focusable, tip);
  const total = buckets.reduce((n, b) => n + series.reduce((m, s) => m + (b.values[s.name] || 0), 0), 0);
  if (!total) wrap.append(el("p", { class: "chart-empty muted", text: "No webhooks in this range." }));
  box.replaceChildren(wrap, axis, legend);
  box.dataset.max = String(max);
  return { max };
}

// Lines (the follower chart): one polyline per series with a marker shape per series, values on hover.
export function lineChart(box, { series, format }) {
  const width = 720; const height = 160;
  const all = series.flatMap((s) => s.points);
  const t0 = Math.min(...all.map((p) => p.t)); const t1 = Math.max(...all.map((p) => p.t), t0 + 1);
  const v0 = Math.min(...all.map((p) => p.v)); const v1 = Math.max(...all.map((p) => p.v), v0 + 1);
  const x = (t) => ((t - t0) / (t1 - t0)) * (width - 16) + 8;
  const y = (v) => height - 10 - ((v - v0) / (v1 - v0)) * (height - 20);
  const svg = svgEl("svg", { viewBox: `0 0 ${width} ${height}`, preserveAspectRatio: "none", class: "lines-svg", role: "img",
    "aria-label": series.map((s) => `${s.name}: ${format(s.points[s.points.length - 1].v)} followers`).join("; ") });
  const list = el("ul", { class: "chart-points visually-hidden" });
  series.forEach((s, i) => {
    svg.append(svgEl("polyline", { points: s.points.map((p) => `${x(p.t).toFixed(1)},${y(p.v).toFixed(1)}`).join(" "),
      class: `line line-series-${i % 4}`, "vector-effect": "non-scaling-stroke" }));
    s.points.forEach((p) => {
      const label = `${s.name}, ${new Date(p.t).toLocaleString()}: ${format(p.v)} followers`;
      // A zero-length line with round caps and a non-scaling stroke stays a round dot however the chart stretches.
      svg.append(svgEl("line", { x1: x(p.t), y1: y(p.v), x2: x(p.t), y2: y(p.v), class: `dot dot-series-${i % 4}`,
        "vector-effect": "non-scaling-stroke", "data-value": p.v }, svgEl("title", {}, document.createTextNode(label))));
      list.append(el("li", { text: label }));
    });
  });
  const legend = el("p", { class: "legend" }, ...series.map((s, i) =>
    el("span", { class: `key key-series-${i % 4}`, text: `${s.name}: ${format(s.points[s.points.length - 1].v)}` })));
  const first = new Date(t0).toLocaleDateString(); const last = new Date(t1).toLocaleDateString();
  const axis = el("div", { class: "chart-axis muted", "aria-hidden": "true" }, el("span", { text: first }),
    el("span", { text: `${format(v0)} – ${format(v1)} followers` }), el("span", { text: last }));
  box.replaceChildren(svg, axis, legend, list);
}
