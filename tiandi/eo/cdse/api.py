"""The two Sentinel Hub APIs of the Copernicus Data Space that ``tiandi fetch cdse`` calls.

- :func:`search_acquisitions`: the Catalog API (``SentinelHubCatalog.search``, STAC item
  search at ``<base>/api/v1/catalog/1.0.0/search``) for the zones' bounding box and the
  period; the scenes (one per MGRS tile) are grouped into acquisitions by UTC day.
- :func:`fetch_tile`: the Process API (``SentinelHubRequest`` at ``<base>/api/v1/process``)
  for one tile of the run's grid and one acquisition: :data:`EVALSCRIPT` returns B02 B03
  B04 B08 B11 B12 as digital numbers and SCL, seven UINT16 bands of one GeoTIFF, at the
  tile's exact bounds and size (10 m in the zones' UTM CRS), 0 where there is no data.
  ``harmonizeValues`` is on: values of processing baseline 04.00 and later come without
  the +1000 offset, so every acquisition reads as DN x 0.0001 = reflectance.

Errors: a refused token (wrong, expired or revoked client) is an ``InputError`` naming the
token address; a service that keeps failing (5xx, dropped connections: sentinelhub
retries ``SHConfig.max_download_attempts`` times) or answers something unreadable is a
``ServiceError`` naming the service and its address. No message carries a credential.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
import rasterio
import rasterio.errors
from oauthlib.oauth2 import InsecureTransportError, OAuth2Error
from rasterio.io import MemoryFile
from requests import RequestException
from sentinelhub.api.catalog import SentinelHubCatalog
from sentinelhub.api.process import SentinelHubRequest
from sentinelhub.config import SHConfig
from sentinelhub.constants import CRS, MimeType, MosaickingOrder
from sentinelhub.data_collections import DataCollection
from sentinelhub.exceptions import DownloadFailedException
from sentinelhub.geometry import BBox

from tiandi.errors import InputError, ServiceError

__all__ = [
    "BANDS",
    "EVALSCRIPT",
    "Acquisition",
    "fetch_tile",
    "search_acquisitions",
]

#: The bands of the evalscript's output, in order (the last is the scene classification).
BANDS = ("B02", "B03", "B04", "B08", "B11", "B12", "SCL")
EVALSCRIPT = """//VERSION=3
function setup() {
  return {
    input: [{bands: ["B02", "B03", "B04", "B08", "B11", "B12", "SCL", "dataMask"], units: "DN"}],
    output: {id: "default", bands: 7, sampleType: "UINT16"}
  };
}
function evaluatePixel(s) {
  if (s.dataMask === 0) { return [0, 0, 0, 0, 0, 0, 0]; }
  return [s.B02, s.B03, s.B04, s.B08, s.B11, s.B12, s.SCL];
}
"""
# Sentinel-2 L2A that follows SHConfig.sh_base_url (the library's own definition is tied
# to services.sentinel-hub.com, which the Process API would then be sent to).
_COLLECTION = DataCollection.SENTINEL2_L2A.define_from("TIANDI_SENTINEL2_L2A", service_url=None)


@dataclass(frozen=True)
class Acquisition:
    """The scenes of one UTC day over the zones: their ids, time span and cloud cover."""

    day: dt.date
    start: dt.datetime
    end: dt.datetime
    scene_ids: tuple[str, ...]
    platform: str | None
    scene_cloud_cover: float | None  # the largest eo:cloud_cover of its scenes (%)


def search_acquisitions(
    config: SHConfig,
    bbox_4326: tuple[float, float, float, float],
    period: tuple[dt.datetime, dt.datetime],
    *,
    collection: str = "sentinel-2-l2a",
    max_cloud_cover: float | None = None,
) -> list[Acquisition]:
    """The acquisitions of ``collection`` over ``bbox_4326`` in ``period``, oldest first."""
    catalog = SentinelHubCatalog(config=config)
    query = None if max_cloud_cover is None else f"eo:cloud_cover <= {float(max_cloud_cover):g}"
    what = f"Catalog API {catalog.service_url}/search"
    with _service_errors(config, what):
        features = list(
            catalog.search(
                collection,
                bbox=BBox(bbox_4326, crs=CRS.WGS84),
                time=period,
                filter=query,
                fields={"include": ["id", "properties.datetime", "properties.eo:cloud_cover",
                                    "properties.platform"], "exclude": []},
            )
        )  # fmt: skip
    return _group_by_day(features, what)


def _group_by_day(features: Sequence[dict[str, Any]], what: str) -> list[Acquisition]:
    days: dict[dt.date, list[tuple[dt.datetime, dict[str, Any]]]] = {}
    for feature in features:
        try:
            props = feature["properties"]
            when = dt.datetime.fromisoformat(str(props["datetime"]).replace("Z", "+00:00"))
        except (KeyError, TypeError, ValueError) as exc:
            raise ServiceError(
                f"{what} answered a scene without a readable datetime ({exc!r}); the service "
                "may have changed: retry later or report it"
            ) from None
        days.setdefault(when.astimezone(dt.UTC).date(), []).append((when, feature))
    out = []
    for day, scenes in sorted(days.items()):
        covers = [s[1]["properties"].get("eo:cloud_cover") for s in scenes]
        known = [float(c) for c in covers if c is not None]
        out.append(
            Acquisition(
                day=day,
                start=min(s[0] for s in scenes),
                end=max(s[0] for s in scenes),
                scene_ids=tuple(sorted(str(s[1].get("id")) for s in scenes)),
                platform=scenes[0][1]["properties"].get("platform"),
                scene_cloud_cover=max(known) if known else None,
            )
        )
    return out


def fetch_tile(
    config: SHConfig,
    acquisition: Acquisition,
    bounds: tuple[float, float, float, float],
    epsg: int,
    size: tuple[int, int],
) -> npt.NDArray[np.uint16]:
    """The seven bands of :data:`BANDS` for one tile: ``(7, rows, cols)`` uint16.

    ``bounds`` are in ``EPSG:epsg``; ``size`` is ``(cols, rows)``, at most 2500 each.
    """
    day0 = dt.datetime.combine(acquisition.day, dt.time(0, 0), tzinfo=dt.UTC)
    request = SentinelHubRequest(
        evalscript=EVALSCRIPT,
        input_data=[
            SentinelHubRequest.input_data(
                data_collection=_COLLECTION,
                time_interval=(day0, day0 + dt.timedelta(days=1) - dt.timedelta(seconds=1)),
                mosaicking_order=MosaickingOrder.LEAST_CC,
                other_args={"processing": {"harmonizeValues": True}},
            )
        ],
        responses=[SentinelHubRequest.output_response("default", MimeType.TIFF)],
        bbox=BBox(bounds, crs=CRS(epsg)),
        size=size,
        config=config,
    )
    what = f"Process API {config.sh_base_url}/api/v1/process"
    with _service_errors(config, what):
        responses = request.get_data(decode_data=False, max_threads=1)
    return _decode(responses[0].content, size, f"{what} ({acquisition.day}, tile {bounds})")


def _decode(content: bytes, size: tuple[int, int], what: str) -> npt.NDArray[np.uint16]:
    cols, rows = size
    try:
        with MemoryFile(content) as memfile, memfile.open() as src:
            data = src.read()
    except rasterio.errors.RasterioError as exc:
        raise ServiceError(
            f"{what} answered something that is not a GeoTIFF ({exc}); retry later"
        ) from None
    if data.shape != (len(BANDS), rows, cols):
        raise ServiceError(
            f"{what} answered a GeoTIFF of shape {data.shape}, expected "
            f"{(len(BANDS), rows, cols)}; retry later or report it"
        )
    out: npt.NDArray[np.uint16] = data.astype(np.uint16, copy=False)
    return out


@contextmanager
def _service_errors(config: SHConfig, what: str) -> Iterator[None]:
    """sentinelhub's and oauthlib's errors as tiandi errors (no credential in them)."""
    try:
        yield
    except InsecureTransportError:
        raise InputError(
            f"the Copernicus Data Space token URL {config.sh_token_url} is not https; OAuth "
            "credentials are only sent over https: fix TIANDI_CDSE_TOKEN_URL"
        ) from None
    except OAuth2Error as exc:
        raise InputError(
            f"the Copernicus Data Space token endpoint {config.sh_token_url} refused the client "
            f"credentials ({exc.error}: {exc.description or 'no description'}); check "
            "TIANDI_CDSE_CLIENT_ID/TIANDI_CDSE_CLIENT_SECRET (or SH_CLIENT_ID/SH_CLIENT_SECRET, "
            "or the secrets file): the client may be wrong, expired or revoked"
        ) from None
    except DownloadFailedException as exc:
        raise _download_error(config, what, exc) from None
    except RequestException as exc:
        raise ServiceError(
            f"{what} cannot be reached ({exc.__class__.__name__}); check the network and "
            "TIANDI_CDSE_BASE_URL, then retry"
        ) from None


def _download_error(config: SHConfig, what: str, exc: DownloadFailedException) -> Exception:
    response = getattr(exc.request_exception, "response", None)
    status = getattr(response, "status_code", None)
    url = getattr(response, "url", None) or what
    if status in (401, 403):
        target = "token endpoint" if str(url).startswith(config.sh_token_url) else what
        return InputError(
            f"the Copernicus Data Space {target} refused the credentials (HTTP {status}); "
            "check TIANDI_CDSE_CLIENT_ID/TIANDI_CDSE_CLIENT_SECRET (or SH_CLIENT_ID/"
            "SH_CLIENT_SECRET, or the secrets file): the client may be wrong, expired or revoked"
        )
    detail = f"HTTP {status}" if status is not None else exc.__class__.__name__
    return ServiceError(
        f"{what} failed after {config.max_download_attempts} attempts ({detail}); the service "
        "may be down or overloaded: retry later (nothing was registered)"
    )
