// The annotate page: state comes from the server (the only writer), every action is one POST naming the
// images and clusters it applies to. Other tabs' actions show up through a cheap version poll.
"use strict";

const App = {
  client: Math.random().toString(36).slice(2, 10),
  state: null,          // {version, progress, clusters, labels, suggested_k, info, thumb, page_size}
  current: null,        // id of the cluster shown
  members: [],          // its members loaded so far, in page order
  total: 0,
  selected: new Set(),
  lastClicked: null,
  view: "cluster",      // "cluster" or "overview"
  busy: false,
};
const $ = (id) => document.getElementById(id);
const el = (tag, cls, text) => {
  const e = document.createElement(tag);
  if (cls) e.className = cls;
  if (text !== undefined) e.textContent = text;
  return e;
};
const fmt = (n) => n.toLocaleString("en-US");
const plural = (n, word) => `${fmt(n)} ${word}${n === 1 ? "" : "s"}`;

async function api(path, body) {
  const init = body === undefined ? {} : {
    method: "POST", headers: {"Content-Type": "application/json"}, body: JSON.stringify(body)};
  const response = await fetch(path, init);
  const data = await response.json().catch(() => ({error: response.statusText}));
  if (!response.ok) throw Object.assign(new Error(data.error || response.statusText), {status: response.status});
  return data;
}

function toast(text, error) {
  const t = $("toast");
  t.textContent = text;
  t.className = error ? "error" : "";
  t.hidden = false;
  clearTimeout(toast.timer);
  toast.timer = setTimeout(() => { t.hidden = true; }, error ? 6000 : 2500);
}

function setView(view) {
  App.view = view;
  $("overview-button").classList.toggle("active", view === "overview");
}

function clusterById(id) { return App.state.clusters.find((c) => c.id === id); }
function clusterTitle(c) { return c.name ? c.name : `cluster ${c.id}`; }

function visibleClusters() {
  const q = $("search").value.trim().toLowerCase();
  if (!q) return App.state.clusters;
  return App.state.clusters.filter((c) => (c.name || "").toLowerCase().includes(q) ||
    c.manual_labels.some((l) => l.toLowerCase().includes(q)) || String(c.id) === q);
}

// ---- rendering --------------------------------------------------------------------------------------------
function renderHeader() {
  const p = App.state.progress;
  const share = p.images ? (100 * p.labelled) / p.images : 0;
  $("progress-fill").style.width = `${share.toFixed(1)}%`;
  $("progress-text").textContent = `${fmt(p.labelled)} / ${fmt(p.images)} labelled (${share.toFixed(0)} %)` +
    ` · ${fmt(p.clusters_left)} / ${fmt(p.clusters)} clusters left` + (p.unsure ? ` · ${fmt(p.unsure)} unsure` : "") +
    ` · ${plural(p.actions, "action")}`;
  $("progress-text").title = `${fmt(p.labelled)} of ${fmt(p.images)} images have a label (${fmt(p.manual)} of them ` +
    `manual); ${fmt(p.clusters_named)} clusters named, ${fmt(p.clusters_left)} without a name`;
  const s = App.state.suggested_k;
  $("suggested").hidden = !s;
  if (s) {
    $("suggested").textContent = `suggested k ≈ ${s.k}`;
    $("suggested").title = `A Dirichlet-process Gaussian mixture on ${fmt(s.rows)} images keeps ${s.k} groups; ` +
      `this clustering started with k = ${App.state.info.k}`;
  }
  $("label-list").replaceChildren(...App.state.labels.map((l) => Object.assign(el("option"), {value: l})));
  const choices = App.state.clusters.map((c) =>
    Object.assign(el("option"), {value: `${c.id} · ${c.name || "unnamed"} (${c.size})`}));
  choices.push(Object.assign(el("option"), {value: "new cluster"}));
  $("cluster-choices").replaceChildren(...choices);
}

function renderList() {
  const items = visibleClusters().map((c) => {
    const li = el("li");
    li.dataset.cluster = c.id;
    if (c.id === App.current) li.className = "current";
    li.append(el("span", c.name ? "cname" : "cname unnamed", clusterTitle(c)), el("span", "csize", fmt(c.size)));
    const bar = el("div", "cbar"), fill = el("div");
    fill.style.width = `${(100 * c.labelled) / c.size}%`;
    bar.append(fill);
    li.append(bar);
    li.title = `${c.labelled} labelled, ${c.unsure} unsure` +
      (c.manual_labels.length ? `; manual labels: ${c.manual_labels.join(", ")}` : "");
    li.addEventListener("click", () => { setView("cluster"); show(c.id); });
    return li;
  });
  $("cluster-list").replaceChildren(...items);
  $("empty").hidden = items.length > 0;
}

function cell(m) {
  const fig = el("figure", "cell");
  fig.dataset.idx = m.idx;
  const img = Object.assign(el("img"), {src: `/img/${m.idx}`, loading: "lazy", alt: m.key,
    width: App.state.thumb, height: App.state.thumb});
  fig.append(img);
  fig.title = `${m.key} · distance ${m.distance.toFixed(3)}` + (m.label ? ` · ${m.label} (${m.source})` : "");
  if (m.unsure) fig.append(el("span", "badge unsure", "unsure"));
  else if (m.manual) fig.append(el("span", "badge manual", m.manual));
  else if (m.moved) fig.append(el("span", "badge moved", "moved"));
  if (App.selected.has(m.idx)) fig.classList.add("selected");
  fig.addEventListener("click", (event) => select(m.idx, event.shiftKey));
  return fig;
}

function renderCluster() {
  const c = clusterById(App.current);
  $("cluster-view").hidden = App.view !== "cluster" || !c;
  $("overview-view").hidden = App.view !== "overview";
  if (!c) return;
  $("cluster-title").textContent = clusterTitle(c);
  $("cluster-meta").textContent = `${c.name ? `#${c.id} · ` : ""}${fmt(c.size)} images · ${fmt(c.labelled)} labelled` +
    (c.unsure ? ` · ${fmt(c.unsure)} unsure` : "");
  $("name-input").placeholder = c.name ? "Rename this cluster  (n)" : "Name this cluster  (n)";
  $("grid").replaceChildren(...App.members.map(cell));
  $("more-button").hidden = App.members.length >= App.total;
  $("more-button").textContent = `Show more (${fmt(App.total - App.members.length)} left)`;
  renderSelection();
}

function renderSelection() {
  const n = App.selected.size;
  $("selection-count").textContent = n ? `${plural(n, "image")} selected` : "Nothing selected";
  $("selection-count").title = "Click images to select them, shift-click for a range, a for all";
  for (const fig of $("grid").children) fig.classList.toggle("selected", App.selected.has(Number(fig.dataset.idx)));
}

async function renderOverview() {
  const strips = await api("/api/overview?per=16");
  const blocks = visibleClusters().map((c) => {
    const block = el("div", "ov-cluster");
    const h = el("h3", null, `${clusterTitle(c)} `);
    h.append(el("span", "muted", `${c.name ? `#${c.id} · ` : ""}${fmt(c.size)} images · ${fmt(c.labelled)} labelled`));
    const strip = el("div", "ov-strip");
    const side = Math.min(App.state.thumb, 64);
    for (const idx of strips[String(c.id)] || []) {
      strip.append(Object.assign(el("img"), {src: `/img/${idx}`, loading: "lazy", width: side, height: side}));
    }
    block.append(h, strip);
    block.addEventListener("click", () => { setView("cluster"); show(c.id); });
    return block;
  });
  $("overview-view").replaceChildren(...blocks);
  $("cluster-view").hidden = true;
  $("overview-view").hidden = false;
}

// ---- loading ------------------------------------------------------------------------------------------------
async function loadState() {
  App.state = await api("/api/state");
  renderHeader();
  if (App.current === null || !clusterById(App.current)) {
    const saved = (location.hash.match(/c=(\d+)/) || [])[1] ?? localStorage.getItem("annotate.cluster");
    const id = saved === null ? null : Number(saved);
    App.current = clusterById(id) ? id : ((App.state.clusters[0] || {}).id ?? null);
  }
  renderList();
}

async function loadMembers(keep) {
  const want = Math.max(App.state.page_size, keep ? App.members.length : 0);
  const members = [];
  let total = 0;
  while (members.length < want) {
    const page = await api(`/api/clusters/${App.current}/members?offset=${members.length}&limit=${App.state.page_size}`);
    total = page.total;
    members.push(...page.members);
    if (!page.members.length || members.length >= total) break;
  }
  App.members = members;
  App.total = total;
  const present = new Set(members.map((m) => m.idx));
  App.selected = new Set([...App.selected].filter((i) => present.has(i)));
}

async function show(id, keep) {
  if (id === undefined || id === null) return;
  if (id !== App.current) { App.selected.clear(); App.lastClicked = null; }
  App.current = id;
  location.hash = `c=${id}`;
  localStorage.setItem("annotate.cluster", String(id));
  await loadMembers(keep);
  renderList();
  if (App.view === "overview") await renderOverview(); else renderCluster();
  const li = document.querySelector(`#cluster-list li[data-cluster="${id}"]`);
  if (li) li.scrollIntoView({block: "nearest"});
}

async function refresh() {
  await loadState();
  await show(App.current, true);
}

async function more() {
  const page = await api(`/api/clusters/${App.current}/members?offset=${App.members.length}&limit=${App.state.page_size}`);
  App.members.push(...page.members);
  App.total = page.total;
  renderCluster();
}

// ---- selection and actions ----------------------------------------------------------------------------------
function select(idx, range) {
  if (range && App.lastClicked !== null) {
    const order = App.members.map((m) => m.idx);
    const [a, b] = [order.indexOf(App.lastClicked), order.indexOf(idx)].sort((x, y) => x - y);
    order.slice(a, b + 1).forEach((i) => App.selected.add(i));
  } else if (App.selected.has(idx)) App.selected.delete(idx);
  else App.selected.add(idx);
  App.lastClicked = idx;
  renderSelection();
}

function selectAll() { App.members.forEach((m) => App.selected.add(m.idx)); renderSelection(); }
function clearSelection() { App.selected.clear(); renderSelection(); }

async function act(action, done) {
  if (App.busy) return;
  App.busy = true;
  try {
    const reply = await api("/api/action", {...action, client: App.client});
    Object.assign(App.state, {version: reply.version, progress: reply.progress, clusters: reply.clusters,
      labels: reply.labels, suggested_k: reply.suggested_k});
    if (action.kind !== "name") App.selected.clear();
    renderHeader();
    const first = (App.state.clusters[0] || {}).id;
    await show(action.kind === "merge" ? action.into : (clusterById(App.current) ? App.current : first), true);
    toast(`${done(reply.result)} · 1 action (${fmt(App.state.progress.actions)} in all)`);
  } catch (err) {
    toast(err.message, true);
    if (err.status === 409 || err.status === 404) await refresh();
  } finally {
    App.busy = false;
  }
}

function parseCluster(text) {
  const t = text.trim().toLowerCase();
  if (t === "new" || t === "new cluster") return "new";
  const m = t.match(/^#?(\d+)/);
  if (m) return Number(m[1]);
  const named = App.state.clusters.find((c) => (c.name || "").toLowerCase() === t);
  return named ? named.id : null;
}

function needSelection() {
  if (App.selected.size) return [...App.selected];
  toast("Select images first (click them, or a to select all)", true);
  return null;
}

const actions = {
  name(text) {
    return act({kind: "name", cluster: App.current, label: text},
      (r) => (r.action.label ? `Named cluster ${r.action.cluster} “${r.action.label}”` : "Name cleared"));
  },
  move(text) {
    const items = needSelection(), to = parseCluster(text);
    if (!items) return;
    if (to === null) return toast(`No cluster “${text}”: type its number, its name or “new”`, true);
    return act({kind: "move", items, to},
      (r) => `Moved ${r.changed} image(s) to cluster ${r.action.created ?? r.action.to}`);
  },
  label(text) {
    const items = needSelection();
    if (items) return act({kind: "label", items, label: text}, (r) => `Labelled ${r.changed} image(s) “${text}”`);
  },
  unsure() {
    const items = needSelection();
    if (!items) return;
    const all = items.every((i) => (App.members.find((m) => m.idx === i) || {}).unsure);
    return act({kind: "unsure", items, unsure: !all},
      (r) => `${all ? "Unmarked" : "Marked"} ${r.changed} image(s) unsure`);
  },
  merge(text) {
    const into = parseCluster(text);
    if (into === null || into === "new") return toast(`No cluster “${text}” to merge into`, true);
    return act({kind: "merge", cluster: App.current, into}, (r) => `Merged cluster ${r.action.cluster} into ${into}`);
  },
};

function bindForm(formId, inputId, run) {
  $(formId).addEventListener("submit", async (event) => {
    event.preventDefault();
    const input = $(inputId);
    await run(input.value);
    input.value = "";
    input.blur();
  });
}

async function poll() {
  try {
    const v = await api("/api/version");
    const changed = v.version !== App.state.version;
    if (changed && !App.busy) await refresh();
    if (JSON.stringify(v.suggested_k) !== JSON.stringify(App.state.suggested_k)) {
      App.state.suggested_k = v.suggested_k;
      renderHeader();
    }
  } catch (err) {
    toast(`server not reachable (${err.message}); your actions so far are saved`, true);
  }
}

window.addEventListener("DOMContentLoaded", async () => {
  bindForm("name-form", "name-input", actions.name);
  bindForm("move-form", "move-input", actions.move);
  bindForm("label-form", "label-input", actions.label);
  bindForm("merge-form", "merge-input", actions.merge);
  $("unsure-button").addEventListener("click", actions.unsure);
  $("select-all").addEventListener("click", selectAll);
  $("clear-button").addEventListener("click", clearSelection);
  $("more-button").addEventListener("click", more);
  $("search").addEventListener("input", () => (App.view === "overview" ? renderOverview() : renderList()));
  $("overview-button").addEventListener("click", () => App.keys.overview());
  $("help-button").addEventListener("click", () => { $("help").hidden = false; });
  $("help-close").addEventListener("click", () => { $("help").hidden = true; });
  $("export-button").addEventListener("click", async () => {
    try {
      const out = await api("/api/export", {});
      toast(`Exported ${fmt(out.imagefolder.images)} labelled images: ${out.csv}, ${out.json}, ${out.imagefolder.folder}`);
    } catch (err) { toast(err.message, true); }
  });
  await loadState();
  await show(App.current);
  document.body.dataset.ready = "1";
  setInterval(poll, 2500);
});
