"""Cloud and cloud-shadow masks for inputs without a Sen2Cor SCL band.

Sentinel-2 L1C (top-of-atmosphere reflectance, 0–1):

- :func:`s2_cloud_probability` — s2cloudless (Sentinel Hub's LightGBM pixel classifier;
  the model file ships inside the ``s2cloudless`` package, so it loads offline) on the
  ten bands :data:`S2CLOUDLESS_BANDS` = B01 B02 B04 B05 B08 B8A B09 B10 B11 B12, all
  resampled to one grid. NaN where any band is missing.
- :func:`s2_cloud_mask` — probability → mask as s2cloudless/eo-learn do it: mean over a
  disc of ``average_over`` px, ``> threshold``, dilation by a disc of ``dilation`` px
  (defaults 0.4, 4, 2: eo-learn's ``CloudMaskTask`` settings at 10 m).
- :func:`cloud_shadow_mask` — geometric: the cloud mask is shifted away from the sun by
  ``h · tan(zenith)`` for cloud heights ``h`` in ``heights_m`` (default 400–4000 m every
  200 m); the union of those shifted clouds, minus the clouds, intersected with dark
  pixels (mean of NIR and the two SWIR bands < ``dark_threshold``, default 0.15) is
  shadow. Direction: azimuth clockwise from north; the shadow of a cloud lies at
  azimuth + 180°. Water is dark too: shadows over water are not told apart from water.
- :func:`scl_from_masks` — cloud/shadow/no-data masks as an SCL-like band (9 cloud, 3
  shadow, 0 no data, 4 clear) so L1C items can go through ``composite_period``, which
  masks SCL classes {0, 1, 3, 8, 9, 10}.

Landsat Collection 2 Level-1/Level-2 ``QA_PIXEL`` (:func:`landsat_qa_flags`,
:func:`landsat_cloud_mask`), bits from the USGS Landsat 8-9 C2 Product Guide: 0 fill,
1 dilated cloud, 2 cirrus, 3 cloud, 4 cloud shadow, 5 snow, 6 clear, 7 water, 8–9 cloud
confidence, 10–11 cloud-shadow confidence, 12–13 snow/ice confidence, 14–15 cirrus
confidence (00 none, 01 low, 10 medium, 11 high).

Measured against the eo-learn TestEOPatch cloud mask (``mask/CLM.npy``) on the five
13-band frames of ``REFERENCE_SCENES.npy`` (two cloud-covered, three clear): see
``tests/test_eo_clouds.py`` and the report of the session that wrote this module.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from tiandi.errors import InputError

S2CLOUDLESS_BANDS: tuple[str, ...] = (
    "B01", "B02", "B04", "B05", "B08", "B8A", "B09", "B10", "B11", "B12",
)  # fmt: skip
SCL_NO_DATA, SCL_SHADOW, SCL_CLEAR, SCL_CLOUD = 0, 3, 4, 9

F32 = npt.NDArray[np.float32]
Bool = npt.NDArray[np.bool_]


def _detector(threshold: float, average_over: int, dilation: int) -> Any:
    from s2cloudless.cloud_detector import S2PixelCloudDetector

    return S2PixelCloudDetector(
        threshold=threshold,
        all_bands=False,
        average_over=average_over or None,
        dilation_size=dilation or None,
    )


def s2_cloud_probability(toa: npt.ArrayLike, bands: Sequence[str] = S2CLOUDLESS_BANDS) -> F32:
    """s2cloudless cloud probability (H, W) of a (10, H, W) L1C TOA reflectance stack.

    ``bands`` names the first axis and must be :data:`S2CLOUDLESS_BANDS` in that order;
    ``InputError`` otherwise (also for a wrong number of layers or L2A-like DN values).
    NaN where any band is NaN.
    """
    if tuple(bands) != S2CLOUDLESS_BANDS:
        raise InputError(
            f"s2cloudless needs the L1C bands {list(S2CLOUDLESS_BANDS)} in this order "
            f"(input shape (10, H, W)); got {list(bands)} — select and order them first"
        )
    data = np.asarray(toa, dtype=np.float32)
    if data.ndim != 3 or data.shape[0] != len(S2CLOUDLESS_BANDS):
        raise InputError(
            f"s2cloudless input has shape {data.shape}; expected (10, H, W) TOA reflectance "
            f"with bands {list(S2CLOUDLESS_BANDS)}"
        )
    finite = np.isfinite(data)
    if finite.any() and float(np.nanmax(data)) > 3.0:
        raise InputError(
            f"s2cloudless input reaches {float(np.nanmax(data)):.0f}: that looks like digital "
            "numbers; pass reflectance (DN / 10000, 0–1)"
        )
    valid = finite.all(axis=0)
    stack = np.moveaxis(np.where(finite, data, 0.0), 0, -1)[np.newaxis]
    prob: F32 = _detector(0.4, 0, 0).get_cloud_probability_maps(stack)[0].astype(np.float32)
    prob[~valid] = np.nan
    return prob


def s2_cloud_mask(
    prob: npt.ArrayLike, *, threshold: float = 0.4, average_over: int = 4, dilation: int = 2
) -> Bool:
    """Cloud mask (bool, H, W) from s2cloudless probabilities; NaN probability → not cloud."""
    p = np.asarray(prob, dtype=np.float32)
    if p.ndim != 2:
        raise InputError(f"cloud probability has shape {p.shape}; expected (H, W)")
    det = _detector(threshold, average_over, dilation)
    mask = det.get_mask_from_prob(np.nan_to_num(p, nan=0.0)[np.newaxis])[0]
    return np.asarray(mask, dtype=bool)


def shadow_offsets(
    sun_azimuth_deg: float,
    sun_zenith_deg: float,
    *,
    pixel_size_m: float = 10.0,
    heights_m: Sequence[float] = tuple(range(400, 4001, 200)),
) -> list[tuple[int, int]]:
    """(row, column) pixel shifts from a cloud to its shadow for each cloud height.

    Rows grow southward, columns eastward. ``InputError`` for a zenith outside 0–85°.
    """
    if not 0.0 <= sun_zenith_deg < 85.0:
        raise InputError(
            f"sun zenith {sun_zenith_deg}° is outside 0–85°; pass the scene's mean sun zenith "
            "angle (degrees from vertical, from the product metadata)"
        )
    az = math.radians(sun_azimuth_deg + 180.0)
    tan_z = math.tan(math.radians(sun_zenith_deg))
    out: list[tuple[int, int]] = []
    for h in heights_m:
        d = h * tan_z / pixel_size_m
        shift = (round(-d * math.cos(az)), round(d * math.sin(az)))
        if shift not in out:
            out.append(shift)
    return out


def cloud_shadow_mask(
    cloud: npt.ArrayLike,
    nir: npt.ArrayLike,
    swir1: npt.ArrayLike,
    swir2: npt.ArrayLike,
    *,
    sun_azimuth_deg: float,
    sun_zenith_deg: float,
    pixel_size_m: float = 10.0,
    heights_m: Sequence[float] = tuple(range(400, 4001, 200)),
    dark_threshold: float = 0.15,
) -> Bool:
    """Shadow mask (bool, H, W): clouds projected away from the sun ∩ dark pixels.

    ``cloud`` bool (H, W); ``nir`` (B08 or B8A), ``swir1`` (B11), ``swir2`` (B12) reflectance
    on the same grid. Cloud pixels are never shadow.
    """
    c = np.asarray(cloud, dtype=bool)
    layers = [np.asarray(a, dtype=np.float32) for a in (nir, swir1, swir2)]
    for name, layer in zip(("nir", "swir1", "swir2"), layers, strict=True):
        if layer.shape != c.shape:
            raise InputError(
                f"{name} has shape {layer.shape}, the cloud mask {c.shape}; resample all "
                "bands to the cloud mask's grid"
            )
    potential = np.zeros_like(c)
    rows, cols = c.shape
    for dr, dc in shadow_offsets(
        sun_azimuth_deg, sun_zenith_deg, pixel_size_m=pixel_size_m, heights_m=heights_m
    ):
        if abs(dr) >= rows or abs(dc) >= cols:
            continue
        src = c[max(-dr, 0) : rows - max(dr, 0), max(-dc, 0) : cols - max(dc, 0)]
        potential[max(dr, 0) : rows - max(-dr, 0), max(dc, 0) : cols - max(-dc, 0)] |= src
    with np.errstate(invalid="ignore"):
        dark = (layers[0] + layers[1] + layers[2]) / 3.0 < dark_threshold
    out: Bool = potential & dark & ~c
    return out


def scl_from_masks(
    cloud: npt.ArrayLike, shadow: npt.ArrayLike | None = None, nodata: npt.ArrayLike | None = None
) -> npt.NDArray[np.uint8]:
    """An SCL-like uint8 band: 9 cloud, 3 shadow, 0 no data, 4 clear (cloud wins over shadow)."""
    c = np.asarray(cloud, dtype=bool)
    scl = np.full(c.shape, SCL_CLEAR, dtype=np.uint8)
    if shadow is not None:
        scl[np.asarray(shadow, dtype=bool)] = SCL_SHADOW
    scl[c] = SCL_CLOUD
    if nodata is not None:
        scl[np.asarray(nodata, dtype=bool)] = SCL_NO_DATA
    return scl


# --- Landsat QA_PIXEL -----------------------------------------------------------------------

QA_BITS = {
    "fill": 0,
    "dilated_cloud": 1,
    "cirrus": 2,
    "cloud": 3,
    "cloud_shadow": 4,
    "snow": 5,
    "clear": 6,
    "water": 7,
}
QA_CONFIDENCE_BITS = {"cloud": 8, "shadow": 10, "snow": 12, "cirrus": 14}
"""First bit of each two-bit confidence field of QA_PIXEL (USGS Collection 2)."""


@dataclass(frozen=True)
class LandsatQA:
    """Decoded ``QA_PIXEL``: one bool array per flag, confidence levels 0–3 per kind."""

    fill: Bool
    dilated_cloud: Bool
    cirrus: Bool
    cloud: Bool
    cloud_shadow: Bool
    snow: Bool
    clear: Bool
    water: Bool
    cloud_confidence: npt.NDArray[np.uint8]
    shadow_confidence: npt.NDArray[np.uint8]
    snow_confidence: npt.NDArray[np.uint8]
    cirrus_confidence: npt.NDArray[np.uint8]


def landsat_qa_flags(qa_pixel: npt.ArrayLike) -> LandsatQA:
    """Decode a Landsat Collection 2 ``QA_PIXEL`` array (uint16) bit by bit.

    ``InputError`` when the array is not of an integer type (a float array is usually a
    scaled or resampled band, not the bit-packed QA band).
    """
    qa = np.asarray(qa_pixel)
    if not np.issubdtype(qa.dtype, np.integer):
        raise InputError(
            f"QA_PIXEL has dtype {qa.dtype}; expected the bit-packed uint16 band as read "
            "from the *_QA_PIXEL.TIF file (do not scale or resample it bilinearly)"
        )
    if qa.size and (int(qa.min()) < 0 or int(qa.max()) > 0xFFFF):
        raise InputError("QA_PIXEL values lie outside 0–65535; pass the uint16 QA band")
    q = qa.astype(np.uint16)

    def bit(n: int) -> Bool:
        return ((q >> n) & 1).astype(bool)

    def two(n: int) -> npt.NDArray[np.uint8]:
        return ((q >> n) & 3).astype(np.uint8)

    return LandsatQA(
        **{name: bit(b) for name, b in QA_BITS.items()},
        cloud_confidence=two(QA_CONFIDENCE_BITS["cloud"]),
        shadow_confidence=two(QA_CONFIDENCE_BITS["shadow"]),
        snow_confidence=two(QA_CONFIDENCE_BITS["snow"]),
        cirrus_confidence=two(QA_CONFIDENCE_BITS["cirrus"]),
    )


def landsat_cloud_mask(
    qa_pixel: npt.ArrayLike,
    *,
    dilated: bool = True,
    cirrus: bool = True,
    shadow: bool = True,
    snow: bool = False,
) -> Bool:
    """Pixels to mask (bool): cloud, and optionally dilated cloud, cirrus, shadow, snow; fill."""
    f = landsat_qa_flags(qa_pixel)
    mask = f.cloud | f.fill
    if dilated:
        mask |= f.dilated_cloud
    if cirrus:
        mask |= f.cirrus
    if shadow:
        mask |= f.cloud_shadow
    if snow:
        mask |= f.snow
    return np.asarray(mask, dtype=bool)


def mask_agreement(pred: npt.ArrayLike, truth: npt.ArrayLike) -> dict[str, float]:
    """Accuracy, IoU, F1, precision and recall of the positive (cloud) class of two masks."""
    p = np.asarray(pred, dtype=bool)
    t = np.asarray(truth, dtype=bool)
    if p.shape != t.shape:
        raise InputError(f"mask shapes differ: {p.shape} vs {t.shape}")
    tp = int(np.count_nonzero(p & t))
    fp = int(np.count_nonzero(p & ~t))
    fn = int(np.count_nonzero(~p & t))
    total = p.size

    def ratio(a: int, b: int) -> float:
        return a / b if b else 0.0

    return {
        "accuracy": ratio(total - fp - fn, total),
        "iou": ratio(tp, tp + fp + fn),
        "f1": ratio(2 * tp, 2 * tp + fp + fn),
        "precision": ratio(tp, tp + fp),
        "recall": ratio(tp, tp + fn),
        "n": float(total),
    }
