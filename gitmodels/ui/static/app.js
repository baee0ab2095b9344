/* gitmodels ui: the model history page. Plain JS, no dependencies, SVG plots drawn here.
 * Data: window.GITMODELS_DATA (a static report embeds every document) or the server's /api/*.
 * Routes (location.hash): ""  models | model=P  one model | model=P&version=C  provenance |
 * model=P&a=C1&b=C2  diff of two versions. */
"use strict";

const EMBED = window.GITMODELS_DATA || null;
const CORE = new Set(["path", "pointer_path", "rev", "commit", "in_cache", "version", "oid", "size", "kind", "files"]);
const COLORS = ["#2457c5", "#d9822b", "#1f9e5a", "#a23fbf", "#c0392b", "#0e8c9a", "#7a6b00"];
const cache = new Map();

async function load(kind, query) {
  const key = kind + "?" + new URLSearchParams(query || {});
  if (cache.has(key)) return cache.get(key);
  let doc;
  if (EMBED) {
    if (kind === "index") doc = EMBED.index;
    else if (kind === "model") doc = EMBED.models[query.path];
    else if (kind === "version") doc = EMBED.versions[query.path + "@" + query.commit];
    if (!doc) throw new Error(`${query.path || kind}: not in this report`);
  } else {
    const resp = await fetch("api/" + key);
    doc = await resp.json();
    if (!resp.ok) throw new Error(doc.error + (doc.hint ? ` (${doc.hint})` : ""));
  }
  cache.set(key, doc);
  return doc;
}

// -- DOM helpers: text goes in as text nodes, never as HTML (commit messages are user data) --------

function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === null || v === undefined || v === false) continue;
    if (k.startsWith("on")) el.addEventListener(k.slice(2), v);
    else el.setAttribute(k, v === true ? "" : String(v));
  }
  for (const c of children.flat()) {
    if (c === null || c === undefined || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return el;
}

function s(tag, attrs, ...children) {
  const el = document.createElementNS("http://www.w3.org/2000/svg", tag);
  for (const [k, v] of Object.entries(attrs || {})) if (v !== null && v !== undefined) el.setAttribute(k, String(v));
  for (const c of children.flat()) if (c !== null && c !== undefined) el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  return el;
}

const isNum = (v) => typeof v === "number" && Number.isFinite(v);
function num(v) {
  if (v === null || v === undefined) return "-";
  if (Array.isArray(v)) return v.map(num).join(", ");
  if (isNum(v) && !Number.isInteger(v)) return String(parseFloat(v.toPrecision(6)));
  if (typeof v === "object") return JSON.stringify(v);
  return String(v);
}
function signed(v) {
  if (!isNum(v)) return "";
  return (v > 0 ? "+" : v < 0 ? "" : "±") + num(v);
}
function bytes(n) {
  if (!isNum(n)) return "?";
  const units = ["B", "KB", "MB", "GB", "TB"];
  let i = 0, x = n;
  while (x >= 1024 && i < units.length - 1) { x /= 1024; i++; }
  return (i ? x.toFixed(1) : String(x)) + " " + units[i];
}
const short = (c) => (c || "").slice(0, 8);
const oidShort = (o) => (o || "").replace(/^sha256:/, "").slice(0, 12);
const hashFor = (q) => "#" + new URLSearchParams(q).toString();

function names(v) {
  return [
    ...(v.refs || []).map((r) => h("span", { class: "badge" + (/^v?\d/.test(r) ? " tag" : "") }, r)),
    ...(v.aliases || []).map((a) => h("span", { class: "badge alias", title: "alias" }, a)),
  ];
}

// -- sortable tables ------------------------------------------------------------------------------

function sortable(columns, rows, attrs) {
  // columns: [{label, key(row) -> sortable value, cell(row) -> Node|string, num}]
  const tbody = h("tbody");
  let state = { col: -1, dir: 1 };
  const ths = columns.map((c, i) => h("th", { class: "sortable" + (c.num ? " num" : ""), "data-col": c.label,
    onclick: () => { state = { col: i, dir: state.col === i ? -state.dir : 1 }; draw(); } }, c.label));
  function cmp(a, b) {
    const ka = columns[state.col].key(a), kb = columns[state.col].key(b);
    const ma = ka === null || ka === undefined || ka === "", mb = kb === null || kb === undefined || kb === "";
    if (ma || mb) return ma === mb ? 0 : ma ? 1 : -1; // missing values last, either direction
    if (isNum(ka) && isNum(kb)) return (ka - kb) * state.dir;
    return String(ka).localeCompare(String(kb)) * state.dir;
  }
  function draw() {
    const ordered = state.col < 0 ? rows : [...rows].sort(cmp);
    ths.forEach((th, i) => th.setAttribute("aria-sort", i === state.col ? (state.dir > 0 ? "ascending" : "descending") : "none"));
    tbody.replaceChildren(...ordered.map((r) => {
      const tr = h("tr", attrs ? attrs(r) : {});
      for (const c of columns) tr.append(h("td", { class: c.num ? "num" : c.cls || null }, c.cell ? c.cell(r) : num(c.key(r))));
      return tr;
    }));
  }
  draw();
  return h("table", {}, h("thead", {}, h("tr", {}, ths)), tbody);
}

// -- views ----------------------------------------------------------------------------------------

async function viewModels() {
  const idx = await load("index");
  crumbs([]);
  const cols = [
    { label: "model", key: (m) => m.path, cell: (m) => h("a", { href: hashFor({ model: m.path }) }, m.path) },
    { label: "kind", key: (m) => m.kind },
    { label: "size", key: (m) => m.size, cell: (m) => bytes(m.size), num: true },
    { label: "framework", key: (m) => m.framework || "" },
    { label: "bytes", key: (m) => (m.in_cache ? "cache" : "remote only") },
    { label: "oid", key: (m) => m.oid, cell: (m) => h("code", {}, oidShort(m.oid)) },
    { label: "at HEAD", key: (m) => (m.at_head ? "yes" : "no") },
    { label: "branches", key: (m) => m.branches.join(" "), cell: (m) => m.branches.map((b) => h("span", { class: "badge" }, b)) },
    { label: "aliases", key: (m) => Object.keys(m.aliases || {}).join(" "),
      cell: (m) => Object.keys(m.aliases || {}).map((a) => h("span", { class: "badge alias" }, a)) },
  ];
  const table = sortable(cols, idx.models);
  table.id = "models";
  return [h("h2", {}, `Models (${idx.models.length})`),
    idx.models.length ? table : h("p", { class: "muted" }, "No models tracked at HEAD or on any branch.")];
}

function lanes(doc) {
  // Versions in HEAD's history share the first line; others take the first branch that holds them.
  const lane = (v) => (v.on_head ? doc.lines[0] : v.branches[0]);
  const order = [];
  for (const v of doc.versions) if (!order.includes(lane(v))) order.push(lane(v));
  const color = (name) => COLORS[Math.max(0, doc.lines.indexOf(name)) % COLORS.length];
  return { lane, order, color };
}

function plot(doc, metric, L) {
  const W = 560, H = 220, left = 56, right = 14, top = 12, bottom = 30;
  const n = doc.versions.length;
  const pts = doc.versions.map((v, i) => ({ v, i, y: v.metrics[metric] })).filter((p) => isNum(p.y));
  const ys = pts.map((p) => p.y);
  let lo = Math.min(...ys), hi = Math.max(...ys);
  if (lo === hi) { lo -= Math.abs(lo) * 0.05 || 0.5; hi += Math.abs(hi) * 0.05 || 0.5; }
  const X = (i) => left + (n > 1 ? (i * (W - left - right)) / (n - 1) : (W - left - right) / 2);
  const Y = (y) => top + ((hi - y) * (H - top - bottom)) / (hi - lo);
  const svg = s("svg", { width: W, height: H, viewBox: `0 0 ${W} ${H}`, role: "img", "data-metric": metric });
  for (let k = 0; k <= 4; k++) {
    const y = lo + ((hi - lo) * k) / 4;
    svg.append(s("line", { class: "grid", x1: left, x2: W - right, y1: Y(y), y2: Y(y) }),
      s("text", { x: left - 6, y: Y(y) + 4, "text-anchor": "end" }, num(y)));
  }
  svg.append(s("line", { class: "axis", x1: left, x2: W - right, y1: H - bottom, y2: H - bottom }));
  const step = Math.max(1, Math.ceil(n / 8));
  doc.versions.forEach((v, i) => {
    if (i % step === 0 || i === n - 1) svg.append(s("text", { x: X(i), y: H - bottom + 14, "text-anchor": "middle" }, String(i + 1)));
  });
  svg.append(s("text", { x: (left + W - right) / 2, y: H - 3, "text-anchor": "middle" }, "version (commit order)"));
  for (const name of L.order) {
    const mine = pts.filter((p) => L.lane(p.v) === name);
    if (mine.length && name !== doc.lines[0]) {  // a branch's line starts where it forked: its last shared version
      const fork = pts.filter((p) => p.i < mine[0].i && L.lane(p.v) !== name && p.v.branches.includes(name)).pop();
      if (fork) mine.unshift(fork);
    }
    if (mine.length > 1) {
      svg.append(s("polyline", { fill: "none", stroke: L.color(name), "stroke-width": 2, "stroke-dasharray": name === doc.lines[0] ? null : "5 4",
        points: mine.map((p) => `${X(p.i)},${Y(p.y)}`).join(" ") }));
    }
  }
  for (const p of pts) {
    const tip = `${short(p.v.commit)}  ${p.v.summary}\n${metric} = ${num(p.y)}\n${p.v.date.slice(0, 16).replace("T", " ")}  ${p.v.author}` +
      `\non: ${p.v.branches.join(", ")}` + (p.v.refs.length ? `\nrefs: ${p.v.refs.join(", ")}` : "");
    const c = s("circle", { class: "point", cx: X(p.i), cy: Y(p.y), r: 5, fill: L.color(L.lane(p.v)),
      "data-commit": p.v.commit, "data-value": String(p.y), "data-lane": L.lane(p.v) }, s("title", {}, tip));
    c.addEventListener("mouseenter", (e) => showTip(e, tip));
    c.addEventListener("mousemove", (e) => showTip(e, tip));
    c.addEventListener("mouseleave", hideTip);
    c.addEventListener("click", () => { location.hash = hashFor({ model: doc.path, version: p.v.commit }); });
    svg.append(c);
  }
  return h("figure", { class: "plot" }, h("figcaption", {}, metric), svg);
}

function showTip(e, text) {
  const tip = document.getElementById("tip");
  tip.textContent = text;
  tip.hidden = false;
  tip.style.left = e.clientX + 14 + "px";
  tip.style.top = e.clientY + 14 + "px";
}
function hideTip() { document.getElementById("tip").hidden = true; }

async function viewModel(path) {
  const doc = await load("model", { path });
  crumbs([[path, null]]);
  const L = lanes(doc);
  const n = doc.versions.length;
  const numeric = doc.metrics.filter((m) => doc.versions.some((v) => isNum(v.metrics[m])));
  const legend = h("p", { class: "legend" }, L.order.map((name) =>
    h("span", {}, h("i", { style: `background:${L.color(name)}` }), name === doc.lines[0] ? `${name} (HEAD)` : name)));
  // Params that never change (a framework records dozens) would only widen the table: a version's page has them all.
  const varying = doc.params.filter((p) => new Set(doc.versions.map((v) => JSON.stringify(v.params[p]))).size > 1);
  const cols = [
    { label: "#", key: (v) => doc.versions.indexOf(v) + 1, num: true },
    { label: "commit", key: (v) => v.commit, cell: (v) => h("a", { href: hashFor({ model: path, version: v.commit }), class: "mono" }, short(v.commit)) },
    { label: "date", key: (v) => v.date, cell: (v) => v.date.slice(0, 16).replace("T", " ") },
    { label: "author", key: (v) => v.author },
    { label: "names", key: (v) => [...v.refs, ...v.aliases].join(" "), cell: names },
    { label: "branches", key: (v) => v.branches.join(" ") },
    { label: "change", key: (v) => v.change + (v.renamed_from ? ` (from ${v.renamed_from})` : "") },
    { label: "size", key: (v) => v.size, cell: (v) => bytes(v.size), num: true },
    ...doc.metrics.map((m) => ({ label: m, key: (v) => v.metrics[m], num: true })),
    ...varying.map((p) => ({ label: "params." + p, key: (v) => v.params[p], num: true })),
    { label: "summary", key: (v) => v.summary, cls: "summary" },
  ];
  const table = sortable(cols, doc.versions, (v) => ({ "data-commit": v.commit, class: v.on_head ? null : "off-head" }));
  table.id = "versions";
  const option = (v, i) => h("option", { value: v.commit }, `#${i + 1} ${short(v.commit)} ${v.summary.slice(0, 40)}`);
  const selA = h("select", { id: "diff-a" }, doc.versions.map(option));
  const selB = h("select", { id: "diff-b" }, doc.versions.map(option));
  if (n > 1) { selA.value = doc.versions[n - 2].commit; selB.value = doc.versions[n - 1].commit; }
  const go = h("button", { id: "diff-go", onclick: () => { location.hash = hashFor({ model: path, a: selA.value, b: selB.value }); } }, "Compare");
  return [
    h("h2", {}, path, h("span", { class: "muted" }, `  ${n} version${n === 1 ? "" : "s"}`)),
    legend,
    numeric.length ? h("div", { class: "plots", id: "plots" }, numeric.map((m) => plot(doc, m, L)))
      : h("p", { class: "muted" }, "No numeric metrics recorded for this model."),
    h("div", { class: "picker" }, "Compare", selA, "with", selB, go),
    h("h3", {}, "Versions"),
    varying.length < doc.params.length
      ? h("p", { class: "muted" }, `${doc.params.length - varying.length} param(s) equal in every version: open a version to see them.`) : null,
    table,
  ];
}

function kv(pairs) {
  return h("dl", { class: "kv" }, pairs.flatMap(([k, v]) => [h("dt", {}, k), h("dd", {}, v)]));
}

function flatten(t, prefix = "") {
  const out = {};
  if (!t || typeof t !== "object" || Array.isArray(t)) return out;
  for (const [k, v] of Object.entries(t)) {
    if (v && typeof v === "object" && !Array.isArray(v)) Object.assign(out, flatten(v, prefix + k + "."));
    else out[prefix + k] = v;
  }
  return out;
}

function tables(doc) {
  const out = {};
  for (const [k, v] of Object.entries(doc)) if (!CORE.has(k)) out[k] = v;
  return out;
}

async function viewVersion(path, commit) {
  const model = await load("model", { path });
  const v = model.versions.find((x) => x.commit === commit);
  if (!v) throw new Error(`${short(commit)} is not a version of ${path}`);
  crumbs([[path, hashFor({ model: path })], [`version ${short(commit)}`, null]]);
  if (v.error) return [h("h2", {}, `${path} @ ${short(commit)}`), h("p", { id: "provenance" }, `unreadable pointer: ${v.error}`)];
  const doc = await load("version", { path: v.path, commit });
  const parts = [
    h("h2", {}, `${v.path} @ ${short(commit)}`, " ", names(v)),
    kv([["commit", commit], ["date", v.date], ["author", `${v.author} <${v.email}>`], ["message", v.summary],
      ["branches", v.branches.join(", ")], ["oid", doc.oid], ["size", `${bytes(doc.size)} (${doc.size} bytes)`],
      ["kind", doc.kind + (doc.files !== null && doc.files !== undefined ? `, ${doc.files} files` : "")],
      ["in cache", doc.in_cache ? "yes" : "no (gitmodels fetch, or get)"]]),
  ];
  const section = h("div", { id: "provenance" });
  for (const [name, value] of Object.entries(tables(doc))) {
    section.append(h("h3", {}, `[${name}]`));
    if (value && typeof value === "object" && !Array.isArray(value)) section.append(kv(Object.entries(flatten(value)).map(([k, x]) => [k, num(x)])));
    else section.append(h("p", { class: "mono" }, num(value)));
  }
  parts.push(section);
  return parts;
}

// The same comparison `gitmodels diff` makes (history._changed), for one model's two versions.
function compare(a, b) {
  const stable = (x) => JSON.stringify(x, (k, v) => (v && typeof v === "object" && !Array.isArray(v)
    ? Object.fromEntries(Object.keys(v).sort().map((key) => [key, v[key]])) : v));
  const ta = tables(a), tb = tables(b);
  const sameBytes = a.oid === b.oid && a.kind === b.kind;
  const sameMeta = stable(ta) === stable(tb);
  const change = !sameBytes ? "modified" : a.path !== b.path && sameMeta ? "renamed" : a.path !== b.path || !sameMeta ? "metadata" : "unchanged";
  const delta = (x, y) => {
    if (!isNum(x) || !isNum(y)) return null;
    const d = y - x;
    return Number.isInteger(d) ? d : parseFloat(d.toPrecision(12));
  };
  const ma = flatten(ta.metrics), mb = flatten(tb.metrics), pa = flatten(ta.params), pb = flatten(tb.params);
  const metrics = [...new Set([...Object.keys(ma), ...Object.keys(mb)])].sort()
    .filter((k) => !(k in ma) || !(k in mb) || stable(ma[k]) !== stable(mb[k]))
    .map((k) => ({ name: k, old: k in ma ? ma[k] : null, new: k in mb ? mb[k] : null, delta: delta(ma[k], mb[k]) }));
  const params = [...new Set([...Object.keys(pa), ...Object.keys(pb)])].sort()
    .filter((k) => (k in pa) !== (k in pb) || stable(pa[k]) !== stable(pb[k]))
    .map((k) => ({ name: k, old: k in pa ? pa[k] : null, new: k in pb ? pb[k] : null }));
  const meta = [...new Set([...Object.keys(ta), ...Object.keys(tb)])].filter((k) => k !== "metrics" && k !== "params")
    .sort().filter((k) => stable(ta[k]) !== stable(tb[k]));
  return { change, metrics, params, meta, size_delta: b.size - a.size };
}

async function viewDiff(path, ca, cb) {
  const model = await load("model", { path });
  const va = model.versions.find((x) => x.commit === ca), vb = model.versions.find((x) => x.commit === cb);
  if (!va || !vb) throw new Error(`not versions of ${path}: ${short(ca)} ${short(cb)}`);
  crumbs([[path, hashFor({ model: path })], [`diff ${short(ca)}..${short(cb)}`, null]]);
  const [a, b] = await Promise.all([load("version", { path: va.path, commit: ca }), load("version", { path: vb.path, commit: cb })]);
  const d = compare(a, b);
  const name = va.path !== vb.path ? `${va.path} -> ${vb.path}` : vb.path;
  const dir = (x) => (isNum(x) && x !== 0 ? (x > 0 ? "up" : "down") : null);
  const parts = [
    h("h2", {}, `${name}: ${short(ca)} → ${short(cb)}`),
    kv([["change", h("span", { id: "diff-change" }, d.change)],
      ["old", `${short(ca)} ${va.date.slice(0, 16).replace("T", " ")} ${va.summary}`],
      ["new", `${short(cb)} ${vb.date.slice(0, 16).replace("T", " ")} ${vb.summary}`],
      ["oid", a.oid === b.oid ? oidShort(b.oid) : `${oidShort(a.oid)} → ${oidShort(b.oid)}`],
      ["size", a.size === b.size ? bytes(b.size) : `${bytes(a.size)} → ${bytes(b.size)} (${signed(d.size_delta)} B)`]]),
    h("h3", {}, "Metrics"),
    d.metrics.length ? h("table", { id: "diff-metrics" },
      h("thead", {}, h("tr", {}, h("th", {}, "metric"), h("th", { class: "num" }, "old"), h("th", { class: "num" }, "new"), h("th", { class: "num" }, "delta"))),
      h("tbody", {}, d.metrics.map((m) => h("tr", { "data-metric": m.name },
        h("td", {}, m.name), h("td", { class: "num" }, num(m.old)), h("td", { class: "num" }, num(m.new)),
        h("td", { class: "num " + (dir(m.delta) || "") }, signed(m.delta))))))
      : h("p", { class: "muted" }, "no metric changed"),
    h("h3", {}, "Params"),
    d.params.length ? h("table", { id: "diff-params" },
      h("thead", {}, h("tr", {}, h("th", {}, "param"), h("th", {}, "old"), h("th", {}, "new"))),
      h("tbody", {}, d.params.map((p) => h("tr", { "data-param": p.name }, h("td", {}, p.name), h("td", {}, num(p.old)), h("td", {}, num(p.new))))))
      : h("p", { class: "muted" }, "no param changed"),
    h("h3", {}, "Other metadata"),
    h("p", { id: "diff-meta" }, d.meta.length ? "changed: " + d.meta.map((t) => `[${t}]`).join(", ") : "no other table changed"),
  ];
  for (const t of d.meta) {
    const fa = flatten(tables(a)[t]), fb = flatten(tables(b)[t]);
    const keys = [...new Set([...Object.keys(fa), ...Object.keys(fb)])].sort().filter((k) => JSON.stringify(fa[k]) !== JSON.stringify(fb[k]));
    if (keys.length) parts.push(h("h3", {}, `[${t}]`), h("table", { class: "diff-table" },
      h("tbody", {}, keys.map((k) => h("tr", {}, h("td", {}, k), h("td", {}, num(fa[k])), h("td", {}, num(fb[k])))))));
  }
  return parts;
}

// -- routing --------------------------------------------------------------------------------------

function crumbs(items) {
  const nav = document.getElementById("crumbs");
  nav.replaceChildren(h("a", { href: "#" }, "models"), ...items.flatMap(([label, href]) => [" / ", href ? h("a", { href }, label) : label]));
}

async function route() {
  document.body.dataset.state = "loading";
  const q = new URLSearchParams(location.hash.slice(1));
  const app = document.getElementById("app");
  const err = document.getElementById("error");
  hideTip();
  try {
    const idx = await load("index");
    document.getElementById("where").textContent = `${idx.root}  ·  ${idx.branch || "detached"} @ ${short(idx.head)}` +
      (EMBED ? "  ·  static report" : "");
    let parts;
    if (!q.get("model")) parts = await viewModels();
    else if (q.get("version")) parts = await viewVersion(q.get("model"), q.get("version"));
    else if (q.get("a") && q.get("b")) parts = await viewDiff(q.get("model"), q.get("a"), q.get("b"));
    else parts = await viewModel(q.get("model"));
    err.hidden = true;
    app.replaceChildren(...parts);
    document.body.dataset.state = "ready";
  } catch (e) {
    err.textContent = String(e.message || e);
    err.hidden = false;
    app.replaceChildren();
    document.body.dataset.state = "error";
  }
}

window.addEventListener("hashchange", route);
route();
