// Chinese and English labels of the review page. Default zh; the choice is kept in
// localStorage. Elements with data-i18n="key" get t(key) as their textContent.

const LANG_KEY = "tiandi.lang";

export const CLASSES = [
  "mining", "industry", "energy", "transport", "tourism",
  "aquaculture", "agriculture", "settlement", "other",
];
export const STATES = [
  "detected", "screened", "reviewed_accepted", "rejected", "dispatched",
  "field_checked", "rectification_required", "rectified", "closed", "reopened",
  "superseded",
];
export const CHANGE_TYPES = [
  "new", "enlarged", "reduced",
  "burned", "dieback", "water_gain", "water_loss", "reclamation", "bloom",
];

const DICT = {
  zh: {
    title: "图斑审核", login_title: "登录", token_label: "访问令牌（tiandi auth token create）",
    login: "登录", logout: "退出", language: "English", help: "帮助 (?)",
    run: "监测批次", all_runs: "全部批次", zone: "区域", class: "类型（HJ 1156）",
    state: "状态", change_type: "变化类型", any: "全部", sort: "排序",
    sort_area: "面积（大→小）", sort_confidence: "置信度（高→低）", sort_id: "图斑编号",
    sort_level: "置信等级（最高→一般）", confidence_level: "置信等级", evidence: "变化证据",
    patches: "图斑", count: "共 {n} 个", layers: "图层", swipe: "卷帘（前 ◀ ▶ 后）",
    no_rasters: "本批次无影像图层", no_patch: "未选择图斑",
    id: "图斑编号", area: "面积", ha: "公顷", mu: "亩", detected_class: "检出类型",
    reviewed_class: "审核类型", confidence: "置信度", version: "版本", history: "历史记录",
    functional_zone: "功能区", chips: "前后影像", before: "前时相", after: "后时相", uav: "无人机", gf: "高分",
    keys: "快捷键", chosen_class: "选定类型", accept: "通过 (a)", reject: "剔除 (x)",
    undo: "撤销 (u)", reject_title: "剔除原因", reason_free: "其他原因（自由填写）",
    submit: "确定", cancel: "取消", read_only: "只读：当前角色不能审核",
    no_access: "当前角色（{role}）不能查看图斑", bad_token: "令牌无效或已过期：{msg}",
    saved: "已保存：{id} → {state}", undone: "已撤销：{id} → {state}",
    conflict: "冲突：{id} 已被修改（现为 {state}，版本 {version}），未保存，请重新判断",
    refused: "未保存：{msg}", nothing_to_undo: "没有可撤销的决定", need_reason: "请填写原因",
    loading: "加载中…", role: "角色",
    help_text: "j / ↓ 下一个 · k / ↑ 上一个 · 1–9 选择类型 · a 通过（按选定类型） · " +
      "x 剔除（需原因） · u 撤销上一个决定 · ? 帮助 · Esc 关闭",
    reason_cloud: "云或云影", reason_season: "季节性植被变化", reason_crop: "耕地轮作",
    reason_water: "水位变化", reason_registration: "影像配准误差",
  },
  en: {
    title: "Patch review", login_title: "Sign in", token_label: "Access token (tiandi auth token create)",
    login: "Sign in", logout: "Sign out", language: "中文", help: "Help (?)",
    run: "Run", all_runs: "All runs", zone: "Zone", class: "Class (HJ 1156)",
    state: "State", change_type: "Change type", any: "Any", sort: "Sort",
    sort_area: "Area (largest first)", sort_confidence: "Confidence (highest first)",
    sort_level: "Confidence level (highest first)", confidence_level: "Confidence level",
    evidence: "Evidence",
    sort_id: "Patch id", patches: "Patches", count: "{n} patches", layers: "Layers",
    swipe: "Swipe (before ◀ ▶ after)", no_rasters: "No image layers for this run",
    no_patch: "No patch selected", id: "Patch id", area: "Area", ha: "ha", mu: "mu (亩)",
    detected_class: "Detected class", reviewed_class: "Reviewed class",
    confidence: "Confidence", version: "Version", history: "History",
    functional_zone: "Functional zone", chips: "Before / after", before: "Before", uav: "UAV", gf: "GF",
    after: "After", keys: "Keys", chosen_class: "Chosen class", accept: "Accept (a)",
    reject: "Reject (x)", undo: "Undo (u)", reject_title: "Reason for rejecting",
    reason_free: "Other reason (free text)", submit: "OK", cancel: "Cancel",
    read_only: "Read-only: this role cannot review", no_access: "This role ({role}) cannot read patches",
    bad_token: "Token refused: {msg}", saved: "Saved: {id} → {state}",
    undone: "Undone: {id} → {state}",
    conflict: "Conflict: {id} changed meanwhile (now {state}, version {version}); not saved, decide again",
    refused: "Not saved: {msg}", nothing_to_undo: "No decision to undo",
    need_reason: "Give a reason", loading: "Loading…", role: "Role",
    help_text: "j / ↓ next · k / ↑ previous · 1–9 choose class · a accept (with the chosen " +
      "class) · x reject (asks a reason) · u undo the last decision · ? help · Esc close",
    reason_cloud: "Cloud or cloud shadow", reason_season: "Seasonal vegetation change",
    reason_crop: "Crop rotation", reason_water: "Water level change",
    reason_registration: "Image misregistration",
  },
};

const CLASS_LABELS = {
  zh: {
    mining: "矿产资源开发", industry: "工业开发", energy: "能源开发", transport: "交通开发",
    tourism: "旅游开发", aquaculture: "养殖", agriculture: "农业开发", settlement: "居民点",
    other: "其他",
  },
  en: {
    mining: "Mining", industry: "Industry", energy: "Energy", transport: "Transport",
    tourism: "Tourism", aquaculture: "Aquaculture", agriculture: "Agriculture",
    settlement: "Settlement", other: "Other",
  },
};

const STATE_LABELS = {
  zh: {
    detected: "已检出", screened: "已初筛", reviewed_accepted: "审核通过",
    rejected: "已剔除（伪变化）", dispatched: "已下发核查", field_checked: "已实地核查",
    rectification_required: "需整改", rectified: "已整改", closed: "已销号",
    reopened: "回头看重新打开", superseded: "已合并/拆分（被新图斑取代）",
  },
  en: {
    detected: "detected", screened: "screened", reviewed_accepted: "accepted",
    rejected: "rejected", dispatched: "dispatched", field_checked: "field-checked",
    rectification_required: "rectification required", rectified: "rectified",
    closed: "closed", reopened: "reopened", superseded: "superseded (merged or split)",
  },
};

const CHANGE_LABELS = {
  zh: {
    new: "新增", enlarged: "扩大", reduced: "减少", burned: "火烧迹地", dieback: "林木枯死",
    water_gain: "新增水面", water_loss: "水面减少", reclamation: "围填海", bloom: "水华",
  },
  en: {
    new: "new", enlarged: "enlarged", reduced: "reduced", burned: "burned area",
    dieback: "forest dieback", water_gain: "new water", water_loss: "water lost",
    reclamation: "reclaimed from sea", bloom: "algal bloom",
  },
};

// Confidence levels of the integrated detector (GFW-style), most confident first.
export const LEVELS = ["highest", "high", "nominal"];

const LEVEL_LABELS = {
  zh: { highest: "最高", high: "高", nominal: "一般" },
  en: { highest: "highest", high: "high", nominal: "nominal" },
};

const EVIDENCE_LABELS = {
  zh: {
    network: "网络模型", vegetation_loss: "植被减少", water_gain: "新增水面",
    water_loss: "水面减少", bare_soil: "裸土/弃土",
  },
  en: {
    network: "network", vegetation_loss: "vegetation loss", water_gain: "water gain",
    water_loss: "water loss", bare_soil: "bare soil",
  },
};

export const REJECT_REASONS = [
  "reason_cloud", "reason_season", "reason_crop", "reason_water", "reason_registration",
];

let lang = localStorage.getItem(LANG_KEY) === "en" ? "en" : "zh";

export function currentLang() {
  return lang;
}

export function setLang(next) {
  lang = next === "en" ? "en" : "zh";
  localStorage.setItem(LANG_KEY, lang);
  document.documentElement.lang = lang;
}

export function t(key, params = {}) {
  const text = DICT[lang][key] ?? DICT.zh[key] ?? key;
  return text.replace(/\{(\w+)\}/g, (_, name) => String(params[name] ?? ""));
}

export function classLabel(value) {
  return value ? (CLASS_LABELS[lang][value] ?? value) : "—";
}

export function stateLabel(value) {
  return value ? (STATE_LABELS[lang][value] ?? value) : "—";
}

export function changeLabel(value) {
  return value ? (CHANGE_LABELS[lang][value] ?? value) : "—";
}

export function levelLabel(value) {
  return value ? (LEVEL_LABELS[lang][value] ?? value) : "—";
}

export function evidenceLabel(value) {
  const names = String(value ?? "").split(",").filter(Boolean);
  return names.length ? names.map((n) => EVIDENCE_LABELS[lang][n] ?? n).join(" + ") : "—";
}

export function applyI18n(root = document) {
  for (const node of root.querySelectorAll("[data-i18n]")) {
    node.textContent = t(node.dataset.i18n);
  }
  document.title = `tiandi · ${t("title")}`;
}
