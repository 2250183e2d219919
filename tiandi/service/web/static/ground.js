// The crew's answers on the ground (burn severity, bloom observed, dieback cause) in the
// patch detail. GET /api/v1/patches/{key} labels them (ground_answers: question and value
// in Chinese and English, from the field form's value lists); this only lays them out.
import { clear, el } from "./dom.js";
import { currentLang } from "./i18n.js";

const HEADING = { zh: "实地核查答复", en: "Answers on the ground" };

// The (empty) box renderDetail places under the patch's attributes.
export function groundAnswersBox() {
  return el("section", { id: "ground-answers", hidden: true });
}

// Fill the box from a patch as GET /patches/{key} returns it; hidden when it has none.
export function renderGroundAnswers(patch) {
  const box = document.querySelector("#ground-answers");
  if (!box) return;
  clear(box);
  const answers = patch?.ground_answers || [];
  box.hidden = answers.length === 0;
  if (!answers.length) return;
  const zh = currentLang() === "zh";
  const rows = answers.flatMap((a) => [
    el("dt", { dataset: { column: a.column } }, zh ? a.question_zh : a.question_en),
    el("dd", { dataset: { value: a.value } }, zh ? `${a.value_zh}（${a.value_en}）` : a.value_en),
  ]);
  box.append(el("h3", {}, HEADING[zh ? "zh" : "en"]), el("dl", {}, rows));
}
