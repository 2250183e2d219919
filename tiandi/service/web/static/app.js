// The review page: sign in, load patches, list + map + detail; review.js adds the keys.
import { api, ApiError, imageUrl, setToken, token } from "./api.js";
import { $, clear, el, fmt } from "./dom.js";
import {
  applyI18n, CHANGE_TYPES, CLASSES, LEVELS, STATES, changeLabel, classLabel, currentLang,
  evidenceLabel, levelLabel, setLang, stateLabel, t,
} from "./i18n.js";
import { groundAnswersBox, renderGroundAnswers } from "./ground.js";
import { ReviewMap } from "./map.js";
import { installReview } from "./review.js";

const state = {
  me: null, runs: [], zones: [], features: [], order: [], index: -1,
  chosenClass: null, map: null, detailSeq: 0,
};

export function toast(message, kind = "info") {
  const box = $("#toast");
  box.textContent = message;
  box.className = kind;
}

const byId = (uid) => state.features.find((f) => f.id === uid);
export const current = () => (state.index >= 0 ? byId(state.order[state.index]) : null);
export const canReview = () => state.me?.role === "ecologist";

function sortKey(feature) {
  const p = feature.properties;
  const how = $("#sort").value;
  if (how === "confidence") return [-(p.confidence ?? -1), p.patch_id || feature.id];
  if (how === "level") {  // highest, high, nominal, then patches without a level
    const rank = LEVELS.indexOf(p.confidence_level);
    return [rank < 0 ? LEVELS.length : rank, p.patch_id || feature.id];
  }
  if (how === "id") return [0, p.patch_id || feature.id];
  return [-(p.area_ha ?? 0), p.patch_id || feature.id];
}

function order() {
  const keyed = state.features.map((f) => [sortKey(f), f.id]);
  keyed.sort((a, b) => a[0][0] - b[0][0] || String(a[0][1]).localeCompare(String(b[0][1])));
  state.order = keyed.map(([, id]) => id);
}

function row(feature, selected) {
  const p = feature.properties;
  const cls = p.reviewed_class || p.hj1156_class;
  return el(
    "li",
    { class: `row state-${p.state}${selected ? " selected" : ""}`, dataset: { uid: feature.id },
      onclick: () => select(state.order.indexOf(feature.id)) },
    el("span", { class: "pid" }, p.patch_id || feature.id),
    el("span", { class: "cls" }, classLabel(cls)),
    el("span", { class: "area" }, `${fmt(p.area_ha)} ${t("ha")}`),
    el("span", { class: `lvl lvl-${p.confidence_level || "none"}`, title: evidenceLabel(p.evidence) },
      levelLabel(p.confidence_level)),
    el("span", { class: "state" }, stateLabel(p.state)),
  );
}

export function renderList() {
  const list = clear($("#list"));
  state.order.forEach((uid, i) => list.append(row(byId(uid), i === state.index)));
  $("#count").textContent = t("count", { n: state.order.length });
  list.querySelector(".selected")?.scrollIntoView({ block: "nearest" });
}

function dlRow(label, ...value) {
  return [el("dt", {}, label), el("dd", {}, ...value)];
}

function classLegend() {
  const chosen = state.chosenClass;
  return el(
    "ol", { id: "class-keys", class: "keys" },
    CLASSES.map((c, i) =>
      el("li", { class: c === chosen ? "chosen" : "", dataset: { cls: c } },
        el("kbd", {}, String(i + 1)), " ", classLabel(c))),
  );
}

function actions() {
  return el(
    "div", { id: "actions" },
    el("p", {}, `${t("chosen_class")}: `, el("b", { id: "chosen" }, classLabel(state.chosenClass))),
    classLegend(),
    el("button", { id: "btn-accept", onclick: () => document.dispatchEvent(key("a")) }, t("accept")),
    el("button", { id: "btn-reject", onclick: () => document.dispatchEvent(key("x")) }, t("reject")),
    el("button", { id: "btn-undo", onclick: () => document.dispatchEvent(key("u")) }, t("undo")),
  );
}

const key = (k) => new KeyboardEvent("keydown", { key: k, bubbles: true });

export function renderDetail() {
  const box = clear($("#detail-body"));
  const feature = current();
  if (!feature) {
    box.append(el("p", { class: "muted" }, t("no_patch")));
    return;
  }
  const p = feature.properties;
  box.append(
    el("h2", { id: "detail-title" }, p.patch_id || feature.id),
    el("dl", {},
      dlRow(t("id"), `${p.patch_id || "—"} · ${feature.id}`),
      dlRow(t("zone"), `${p.zone_name || ""} (${p.zone_id || "—"})`),
      dlRow(t("functional_zone"), p.functional_zone || "—"),
      dlRow(t("area"), `${fmt(p.area_ha)} ${t("ha")} · ${fmt(p.area_mu, 1)} ${t("mu")}`),
      dlRow(t("detected_class"), classLabel(p.hj1156_class)),
      dlRow(t("reviewed_class"), classLabel(p.reviewed_class)),
      dlRow(t("change_type"), changeLabel(p.change_type)),
      dlRow(t("confidence"), fmt(p.confidence)),
      dlRow(t("confidence_level"), el("span", { id: "detail-level" }, levelLabel(p.confidence_level))),
      dlRow(t("evidence"), el("span", { id: "detail-evidence" }, evidenceLabel(p.evidence))),
      dlRow(t("state"), el("span", { id: "detail-state", class: `state-${p.state}` }, stateLabel(p.state))),
      dlRow(t("version"), el("span", { id: "detail-version" }, String(p.version))),
    ),
    groundAnswersBox(),
  );
  if (canReview()) box.append(actions());
  box.append(el("div", { id: "chips" }), el("h3", {}, t("history")), el("ol", { id: "history" }));
  loadPatchExtras(feature.id);
}

function historyItem(h) {
  const what = `${h.at || ""} · ${h.actor} (${h.role}) · ${h.transition}: ` +
    `${stateLabel(h.from)} → ${stateLabel(h.to)}`;
  return el("li", {}, el("span", {}, what), h.reason ? el("q", { class: "reason" }, h.reason) : null);
}

async function loadPatchExtras(uid) {
  const seq = ++state.detailSeq;
  const stale = () => seq !== state.detailSeq; // another patch was selected meanwhile
  const chips = ["before", "after"].map((name) =>
    imageUrl(`/api/v1/patches/${encodeURIComponent(uid)}/chip/${name}.png`).catch(() => null));
  const patch = await api.patch(uid).catch(() => null);
  if (stale()) return;
  if (patch) {
    updateFeature(patch, false);
    $("#detail-version").textContent = String(patch.properties.version);
    $("#detail-state").textContent = stateLabel(patch.properties.state);
    const list = clear($("#history"));
    for (const h of [...patch.history].reverse()) list.append(historyItem(h));
    renderGroundAnswers(patch);
  }
  const [before, after] = await Promise.all(chips);
  if (stale()) return;
  const box = clear($("#chips"));
  for (const [name, url] of [["before", before], ["after", after]]) {
    if (url) box.append(el("figure", {}, el("img", { src: url, alt: t(name) }), el("figcaption", {}, t(name))));
  }
  // UAV or GF evidence, when `tiandi ingest uav` or `tiandi ingest gf --patches` cut chips of it.
  const listed = await api.uavChips(uid).catch(() => null);
  for (const chip of listed ? listed.chips : []) {
    const url = await imageUrl(chip.url).catch(() => null);
    if (stale()) return;
    const caption = `${t(chip.source === "gf" ? "gf" : "uav")} ${chip.item_id} · ${fmt(chip.gsd_m, 2)} m`;
    if (url) box.append(el("figure", { class: "uav" }, el("img", { src: url, alt: caption }), el("figcaption", {}, caption)));
  }
}

export function updateFeature(feature, redraw = true) {
  const i = state.features.findIndex((f) => f.id === feature.id);
  if (i < 0) return;
  const { history, ...plain } = feature;
  state.features[i] = { ...state.features[i], ...plain };
  state.map.updatePatch(state.features[i]);
  if (redraw) renderList();
}

// Move the list's highlight without rebuilding it (hundreds of rows, one key press each).
function markSelected() {
  const list = $("#list");
  if (list.children.length !== state.order.length) { renderList(); return; }
  list.querySelector(".selected")?.classList.remove("selected");
  const row = list.children[state.index];
  row?.classList.add("selected");
  row?.scrollIntoView({ block: "nearest" });
}

export function select(index) {
  if (!state.order.length) return;
  state.index = Math.max(0, Math.min(index, state.order.length - 1));
  const f = current();
  state.chosenClass = f.properties.reviewed_class || f.properties.hj1156_class || null;
  markSelected();
  renderDetail();
  state.map.select(f.id);
}

export const step = (delta) => select(state.index + delta);
export function selectUid(uid) {
  const index = state.order.indexOf(uid);
  if (index >= 0) select(index);
}

export function chooseClass(cls) {
  state.chosenClass = cls;
  if ($("#chosen")) $("#chosen").textContent = classLabel(cls);
  for (const li of document.querySelectorAll("#class-keys li")) {
    li.classList.toggle("chosen", li.dataset.cls === cls);
  }
}
export const chosenClass = () => state.chosenClass;

function filters() {
  return {
    zone: $("#f-zone").value, class: $("#f-class").value, state: $("#f-state").value,
    change_type: $("#f-change").value, run: $("#f-run").value,
  };
}

async function loadPatches() {
  toast(t("loading"));
  const keep = current()?.id;
  try {
    state.features = await api.patches(filters());
  } catch (err) {
    toast(err instanceof ApiError && err.status === 403 ? t("no_access", { role: state.me.role }) : err.message, "error");
    return;
  }
  order();
  state.map.setPatches(state.features);
  state.index = -1;
  toast("");
  const at = keep ? state.order.indexOf(keep) : -1;
  if (state.order.length) select(at >= 0 ? at : 0);
  else { renderList(); renderDetail(); }
}

function options(select, values, label, anyText) {
  const chosen = select.value;
  clear(select).append(el("option", { value: "" }, anyText));
  for (const v of values) select.append(el("option", { value: v }, label(v)));
  select.value = chosen;
}

function renderFilters() {
  options($("#f-zone"), state.zones.map((z) => z.zone_id),
    (id) => { const z = state.zones.find((x) => x.zone_id === id); return `${z.zone_name || ""} ${id}`; }, t("any"));
  options($("#f-class"), CLASSES, classLabel, t("any"));
  options($("#f-state"), STATES, stateLabel, t("any"));
  options($("#f-change"), CHANGE_TYPES, changeLabel, t("any"));
  options($("#f-run"), state.runs.map((r) => r.run_id), (id) => id, t("all_runs"));
  for (const o of $("#sort").options) o.textContent = t(`sort_${o.value}`);
}

async function loadRasters() {
  const runId = $("#f-run").value || state.runs.at(-1)?.run_id;
  const panel = clear($("#layers"));
  let layers = [];
  let bounds = null;
  if (runId) {
    try {
      const found = await api.layers(runId); // 404 when the run has no rasters: no layers
      layers = found.layers || [];
      bounds = found.bounds || null;
    } catch { layers = []; }
  }
  let zones = [];
  if (runId) {
    try { zones = (await api.runZones(runId)).features || []; } catch { zones = []; }
  }
  const entries = [...state.map.setRasters(layers)];
  if (zones.length) entries.push(state.map.setZones(zones)); else state.map.setZones([]);
  if (!state.features.length && bounds) state.map.fitBounds(bounds);
  if (!entries.length) {
    panel.append(el("p", { class: "muted", dataset: { i18n: "no_rasters" } }, t("no_rasters")));
    return;
  }
  for (const { info, layer } of entries) {
    const box = el("input", { type: "checkbox", checked: layer.getVisible(),
      onchange: (e) => layer.setVisible(e.target.checked) });
    panel.append(el("label", { dataset: { layer: info.name } }, box, " ", state.map.title(info)));
  }
}

function renderAll() {
  applyI18n();
  renderFilters();
  renderList();
  renderDetail();
  for (const label of document.querySelectorAll("#layers label")) {
    const entry = [...state.map.rasters, state.map.zoneEntry]
      .find((r) => r.info.name === label.dataset.layer);
    if (entry) label.lastChild.textContent = state.map.title(entry.info);
  }
  $("#whoami").textContent = state.me ? `${state.me.holder} · ${t("role")}: ${state.me.role}` : "";
}

async function start() {
  delete document.body.dataset.ready;
  try {
    state.me = await api.me();
  } catch (err) {
    setToken(null);
    showLogin(t("bad_token", { msg: err.message }));
    return;
  }
  $("#login").hidden = true;
  $("#app").hidden = false;
  document.body.classList.toggle("can-review", canReview());
  if (!state.map) state.map = new ReviewMap("map", selectUid);
  if (state.me.role === "field") { renderAll(); toast(t("no_access", { role: "field" }), "error"); return; }
  [state.runs, state.zones] = await Promise.all([
    api.runs().then((r) => r.runs).catch(() => []),
    api.zones().then((z) => z.zones).catch(() => []),
  ]);
  renderAll();
  if (!canReview()) toast(t("read_only"));
  await Promise.all([loadPatches(), loadRasters()]);
  installReview();
  $("#list").focus();
  // Keys typed before this point are not handled (no handler yet, the token field had the
  // focus): the page says when it takes them, for scripts and tests driving it.
  document.body.dataset.ready = "true";
}

function showLogin(message = "") {
  $("#app").hidden = true;
  $("#login").hidden = false;
  $("#login-error").textContent = message;
  $("#token").focus();
}

function wire() {
  $("#login-form").addEventListener("submit", (e) => {
    e.preventDefault();
    setToken($("#token").value.trim());
    start();
  });
  $("#logout").addEventListener("click", () => { setToken(null); location.reload(); });
  $("#lang").addEventListener("click", () => { setLang(currentLang() === "zh" ? "en" : "zh"); renderAll(); });
  for (const id of ["#f-zone", "#f-class", "#f-state", "#f-change"]) $(id).addEventListener("change", loadPatches);
  $("#f-run").addEventListener("change", () => { loadPatches(); loadRasters(); });
  // re-render in the new order, keeping the selected patch selected
  $("#sort").addEventListener("change", () => {
    const uid = current()?.id;
    order();
    state.index = uid ? state.order.indexOf(uid) : -1;
    renderList();
  });
  $("#swipe").addEventListener("input", (e) => state.map?.setSwipe(e.target.value));
}

setLang(currentLang());
applyI18n();
wire();
if (token()) start();
else showLogin();
