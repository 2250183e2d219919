"""Vocabularies of the red-line domain: HJ 1156 classes, change types, functional zones,
screening reasons, the store CRS and area units.

HJ 1156-2021 (自然保护地人类活动遥感监测技术规范) classes human activities in protected
areas into nine classes and three change types. Reserves (自然保护区) are divided into
three functional zones. Values are ASCII (``str`` enums, safe as file and column values);
``.zh`` gives the Chinese label used in reports and field forms, ``.en`` the English one.
Screening reasons (初筛) are the codes :mod:`tiandi.redline.patches.screening` gives a
pseudo-change; every vector the red-line domain writes is in :data:`STORE_CRS`.
"""

from __future__ import annotations

from enum import StrEnum

MU_M2 = 666.67
"""Square metres in one 亩 (mu), the area unit of Chinese land reporting."""

M2_PER_HA = 10_000.0
"""Square metres in one hectare."""

STORE_CRS = "EPSG:4490"
"""CRS of every vector the red-line domain writes (CGCS2000 geographic): patch
GeoPackages, the patch store, field tasks and accuracy samples."""

STORE_SRID = 4490
"""EPSG code of :data:`STORE_CRS`, the SRID of the stores' geometry columns."""

SCREEN_REASONS_ZH: dict[str, str] = {
    "below_mmu": "小于最小上图面积",
    "seasonal_greening": "季节性/轮作变化",
    "weak_spectral_change": "光谱变化弱(云影残留或物候)",
    "vegetation_remains": "变化后仍为植被(收割或物候)",
    "clear_cut": "皆伐/清除迹地(交人类活动监测)",
    "unburned_dnbr": "dNBR均值低于0.1(按Key & Benson分级为未过火)",
}
"""Screening reasons (初筛) of a pseudo-change, code → Chinese label (see
:mod:`tiandi.redline.patches.screening` for the rules behind each)."""


class HJ1156Class(StrEnum):
    """Human-activity class of HJ 1156-2021."""

    MINING = "mining"
    INDUSTRY = "industry"
    ENERGY = "energy"
    TRANSPORT = "transport"
    TOURISM = "tourism"
    AQUACULTURE = "aquaculture"
    AGRICULTURE = "agriculture"
    SETTLEMENT = "settlement"
    OTHER = "other"

    @property
    def zh(self) -> str:
        """Chinese label (矿产资源开发 …)."""
        return _HJ1156_ZH[self]

    @property
    def en(self) -> str:
        """English label."""
        return _HJ1156_EN[self]


_HJ1156_ZH: dict[HJ1156Class, str] = {
    HJ1156Class.MINING: "矿产资源开发",
    HJ1156Class.INDUSTRY: "工业开发",
    HJ1156Class.ENERGY: "能源开发",
    HJ1156Class.TRANSPORT: "交通开发",
    HJ1156Class.TOURISM: "旅游开发",
    HJ1156Class.AQUACULTURE: "养殖",
    HJ1156Class.AGRICULTURE: "农业开发",
    HJ1156Class.SETTLEMENT: "居民点",
    HJ1156Class.OTHER: "其他",
}

_HJ1156_EN: dict[HJ1156Class, str] = {
    HJ1156Class.MINING: "mineral resource development (mining, quarries)",
    HJ1156Class.INDUSTRY: "industrial development",
    HJ1156Class.ENERGY: "energy development (hydro, wind, solar)",
    HJ1156Class.TRANSPORT: "transport development (roads, railways)",
    HJ1156Class.TOURISM: "tourism development",
    HJ1156Class.AQUACULTURE: "aquaculture and livestock",
    HJ1156Class.AGRICULTURE: "agricultural development",
    HJ1156Class.SETTLEMENT: "settlements",
    HJ1156Class.OTHER: "other",
}


class ChangeType(StrEnum):
    """Change type of a patch.

    HJ 1156's three types of human activity (new, enlarged, reduced/restored) and the
    ecological disturbances of the disaster early-warning and water monitoring plans
    (生态灾害预警; 水体、海岸线监测): burned area, forest dieback, new water, water loss,
    land reclaimed from the sea, algal bloom. :data:`DISTURBANCE_TYPES` lists the latter.
    """

    NEW = "new"
    ENLARGED = "enlarged"
    REDUCED = "reduced"
    BURNED = "burned"
    DIEBACK = "dieback"
    WATER_GAIN = "water_gain"
    WATER_LOSS = "water_loss"
    RECLAMATION = "reclamation"
    BLOOM = "bloom"

    @property
    def zh(self) -> str:
        """Chinese label (新增, 扩大, 减少, 火烧迹地 …)."""
        return _CHANGE_ZH[self]

    @property
    def en(self) -> str:
        """English label."""
        return _CHANGE_EN[self]

    @property
    def is_disturbance(self) -> bool:
        """Whether this is an ecological disturbance rather than an HJ 1156 human activity."""
        return self in DISTURBANCE_TYPES


_CHANGE_ZH: dict[ChangeType, str] = {
    ChangeType.NEW: "新增",
    ChangeType.ENLARGED: "扩大",
    ChangeType.REDUCED: "减少",
    ChangeType.BURNED: "火烧迹地",
    ChangeType.DIEBACK: "林木枯死",
    ChangeType.WATER_GAIN: "新增水面",
    ChangeType.WATER_LOSS: "水面减少",
    ChangeType.RECLAMATION: "围填海",
    ChangeType.BLOOM: "水华",
}

_CHANGE_EN: dict[ChangeType, str] = {
    ChangeType.NEW: "new",
    ChangeType.ENLARGED: "enlarged",
    ChangeType.REDUCED: "reduced (restored)",
    ChangeType.BURNED: "burned area",
    ChangeType.DIEBACK: "forest dieback (pests, disease, drought)",
    ChangeType.WATER_GAIN: "new water surface",
    ChangeType.WATER_LOSS: "water surface lost",
    ChangeType.RECLAMATION: "land reclaimed from the sea",
    ChangeType.BLOOM: "algal bloom",
}

DISTURBANCE_TYPES: frozenset[ChangeType] = frozenset(
    {
        ChangeType.BURNED,
        ChangeType.DIEBACK,
        ChangeType.WATER_GAIN,
        ChangeType.WATER_LOSS,
        ChangeType.RECLAMATION,
        ChangeType.BLOOM,
    }
)
"""Change types of ecological disturbances: they keep their type when a later run finds
the patch again (a burn scar that grew is still ``burned``, not ``enlarged``)."""


class FunctionalZone(StrEnum):
    """Functional zone of a nature reserve; the value is the Chinese name."""

    CORE = "核心区"
    BUFFER = "缓冲区"
    EXPERIMENTAL = "实验区"

    @property
    def zh(self) -> str:
        """Chinese label (the value itself)."""
        return self.value

    @property
    def en(self) -> str:
        """English label."""
        return {"核心区": "core", "缓冲区": "buffer", "实验区": "experimental"}[self.value]


CONFIDENCE_LEVEL_LABELS: dict[str, str] = {
    "highest": "最高 highest",
    "high": "高 high",
    "nominal": "一般 nominal",
}
"""Confidence levels of the integrated detector's patches, most confident first, with
their labels (:mod:`tiandi.models.evidence`: nominal one evidence, high the network
alone, a vegetation and a water test agreeing or strong vegetation loss, highest the
network and a spectral test agreeing)."""

EVIDENCE_LABELS: dict[str, str] = {
    "network": "网络模型 network",
    "vegetation_loss": "植被减少 vegetation loss",
    "water_gain": "新增水面 water gain",
    "water_loss": "水面减少 water loss",
    "bare_soil": "裸土/弃土 bare soil",
}
"""The evidence a patch of the integrated detector lists, with labels."""


BURN_SEVERITY_LABELS: dict[str, str] = {
    "unburned": "未过火 unburned",
    "low": "轻度 low",
    "moderate": "中度 moderate",
    "high": "重度 high",
}
"""Burn severity checked on the ground, in the classes of the Composite Burn Index (Key &
Benson 2006, FIREMON CBI: unburned, low, moderate, high)."""
BLOOM_OBSERVED_LABELS: dict[str, str] = {
    "yes": "有水华 yes",
    "no": "无水华 no",
    "unsure": "不确定 unsure",
}
"""Whether the crew saw the algal bloom (水华) on the water."""
DIEBACK_CAUSE_LABELS: dict[str, str] = {
    "pests": "虫害 pests",
    "disease": "病害 disease",
    "drought": "干旱 drought",
    "fire": "火灾 fire",
    "harvest": "采伐 harvest",
    "unknown": "不明 unknown",
}
"""The cause of forest dieback the crew saw on the ground (病虫害, drought, fire, harvest)."""
GROUND_ANSWER_VALUES: dict[str, tuple[str, ...]] = {
    "field_severity": tuple(BURN_SEVERITY_LABELS),
    "field_bloom_observed": tuple(BLOOM_OBSERVED_LABELS),
    "field_dieback_cause": tuple(DIEBACK_CAUSE_LABELS),
}
"""The crew's answer to each disturbance question (the patch store's answer columns and
the field form's fields) and the values it may take."""
