// Keyboard review: j/k (and arrows) move, 1–9 choose the HJ 1156 class, a accepts, x
// rejects with a reason, u undoes the last decision, ? shows the keys. Every decision is
// POSTed with the version it was made on; a 409 shows the current state (never retried).
import { api, ApiError } from "./api.js";
import { $, clear, el } from "./dom.js";
import { CLASSES, REJECT_REASONS, stateLabel, t } from "./i18n.js";
import {
  canReview, chooseClass, chosenClass, current, renderDetail, selectUid, step, toast,
  updateFeature,
} from "./app.js";

// Patch ids decided in this tab, newest last (for undo; kept across reloads).
const DECIDED_KEY = "tiandi.decided";
const decided = JSON.parse(sessionStorage.getItem(DECIDED_KEY) || "[]");
const remember = () => sessionStorage.setItem(DECIDED_KEY, JSON.stringify(decided.slice(-200)));
let installed = false;
let busy = false;

async function decide(feature, body, { advance = true, undo = false } = {}) {
  if (busy) return;
  busy = true;
  const p = feature.properties;
  try {
    const done = await api.review(feature.id, { ...body, version: p.version });
    updateFeature(done.patch);
    const msg = undo ? "undone" : "saved";
    toast(t(msg, { id: p.patch_id || feature.id, state: stateLabel(done.patch.properties.state) }), "ok");
    if (undo) selectUid(feature.id);
    else {
      decided.push(feature.id);
      remember();
      if (advance) step(1);
      else renderDetail();
    }
  } catch (err) {
    report(feature, err);
  } finally {
    busy = false;
    $("#list").focus();
  }
}

function report(feature, err) {
  const p = feature.properties;
  if (err instanceof ApiError && err.status === 409 && err.body.current) {
    updateFeature(err.body.current);
    const now = err.body.current.properties;
    toast(t("conflict", { id: p.patch_id || feature.id, state: stateLabel(now.state), version: now.version }), "error");
    renderDetail();
  } else {
    toast(t("refused", { msg: err.message }), "error");
  }
}

function accept() {
  const feature = current();
  const cls = chosenClass();
  if (!feature || !cls) return;
  const detected = feature.properties.hj1156_class;
  const decision = detected && cls !== detected ? "reclassify" : "accept";
  decide(feature, { decision, hj1156_class: cls });
}

async function undo() {
  if (busy) return;
  const uid = decided.pop();
  remember();
  if (!uid) { toast(t("nothing_to_undo"), "error"); return; }
  let feature;
  try {
    feature = await api.patch(uid); // its version now, even when filtered out of the list
  } catch (err) {
    toast(t("refused", { msg: err.message }), "error");
    return;
  }
  await decide(feature, { decision: "undo" }, { undo: true });
}

function rejectDialog() {
  const feature = current();
  if (!feature) return;
  const dialog = $("#reject-dialog");
  const presets = clear($("#reject-presets"));
  REJECT_REASONS.forEach((k, i) => {
    presets.append(el("label", {},
      el("input", { type: "radio", name: "preset", value: t(k), checked: i === 0 }),
      ` ${i + 1} · ${t(k)}`));
  });
  $("#reason-text").value = "";
  $("#reject-error").textContent = "";
  dialog.returnValue = "";
  dialog.onclose = () => {
    if (dialog.returnValue !== "submit") { $("#list").focus(); return; }
    const free = $("#reason-text").value.trim();
    const preset = dialog.querySelector("input[name=preset]:checked")?.value;
    const reason = free || preset;
    if (!reason) { toast(t("need_reason"), "error"); return; }
    decide(feature, { decision: "reject", reason });
  };
  dialog.showModal();
  $("#reason-text").focus();
}

function onDialogKey(event) {
  // digits pick a preset reason while the free-text field is empty
  if (/^[1-9]$/.test(event.key) && !$("#reason-text").value) {
    const radios = document.querySelectorAll("#reject-presets input");
    const radio = radios[Number(event.key) - 1];
    if (radio) { radio.checked = true; event.preventDefault(); }
  }
}

function toggleHelp() {
  const help = $("#help-dialog");
  if (help.open) help.close();
  else {
    $("#help-text").textContent = t("help_text");
    help.showModal();
  }
}

const MOVES = { j: 1, ArrowDown: 1, k: -1, ArrowUp: -1 };

function onKey(event) {
  if (event.ctrlKey || event.metaKey || event.altKey) return;
  if ($("#reject-dialog").open) { onDialogKey(event); return; }
  if ($("#help-dialog").open) { if (event.key === "?") toggleHelp(); return; }
  const tag = event.target?.tagName;
  if (tag === "INPUT" || tag === "SELECT" || tag === "TEXTAREA") return;
  if (event.key in MOVES) { event.preventDefault(); step(MOVES[event.key]); return; }
  if (event.key === "?") { event.preventDefault(); toggleHelp(); return; }
  if (!canReview()) return;
  if (/^[1-9]$/.test(event.key)) chooseClass(CLASSES[Number(event.key) - 1]);
  else if (event.key === "a") accept();
  else if (event.key === "x") { event.preventDefault(); rejectDialog(); }
  else if (event.key === "u") undo();
  else return;
  event.preventDefault();
}

export function installReview() {
  if (installed) return;
  installed = true;
  document.addEventListener("keydown", onKey);
  $("#help-button").addEventListener("click", toggleHelp);
}
