"""Read a folder with the layout of the OSCD change-detection dataset.

OSCD (Daudt et al. 2018) holds, per city, one single-band GeoTIFF per Sentinel-2 band and
date at native resolution (10, 20 or 60 m) and a change map::

    <root>/Onera Satellite Change Detection dataset - Images/<city>/imgs_1/*_<BAND>.tif
    <root>/Onera Satellite Change Detection dataset - Images/<city>/imgs_2/*_<BAND>.tif
    <root>/Onera Satellite Change Detection dataset - Images/<city>/dates.txt
    <root>/Onera Satellite Change Detection dataset - {Train,Test} Labels/<city>/cm/<city>-cm.tif

Every band of both dates is put on the grid of the date-1 10 m raster (``B02``), which
the dataset's README names as the reference. A band whose bounds equal the reference
bounds is resampled onto it (bilinear); this also aligns the date-2 rasters of
``saclay_e`` and ``abudhabi``, which cover the same bounds with a few pixels fewer (their
pixels are slightly larger). Measured on those two cities, resampling keeps the date-2
image aligned within one pixel everywhere, whereas cropping/padding drifts up to 7 pixels
towards the far corner. A raster whose bounds differ (or that has no georeferencing) is
cropped or edge-padded at its bottom/right to the reference shape instead. Either
adjustment is recorded in ``OscdCity.notes``.

Change labels are returned as uint8 0 (no change) / 1 (change): the files hold 1/2 (the
README says 0/1; both are accepted, as is a 0/255 ``cm.png``).
"""

from __future__ import annotations

import hashlib
import re
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path

import numpy as np
import numpy.typing as npt
import rasterio
import xarray as xr
from rasterio.enums import Resampling

from tiandi._io import sha256_file
from tiandi.errors import InputError

S2_BANDS: tuple[str, ...] = (
    "B01", "B02", "B03", "B04", "B05", "B06", "B07", "B08", "B8A", "B09", "B10", "B11", "B12",
)  # fmt: skip
"""The 13 Sentinel-2 MSI bands in OSCD's order."""

IMAGES_DIR = "Onera Satellite Change Detection dataset - Images"
LABEL_DIRS = (
    "Onera Satellite Change Detection dataset - Train Labels",
    "Onera Satellite Change Detection dataset - Test Labels",
)
REFERENCE_BAND = "B02"
DN_SCALE = 10000.0
"""L1C digital numbers are top-of-atmosphere reflectance x 10000."""

_BAND_RE = re.compile(r"_(B\d{2}|B8A)\.tif$", re.IGNORECASE)


@dataclass(frozen=True)
class OscdCity:
    """One OSCD city on the date-1 10 m grid.

    ``before``/``after`` hold one float32 variable per band (reflectance 0–1, NaN where
    the digital number is 0) on dims ``("y", "x")``; ``label`` is uint8 0/1 or ``None``
    when the folder has no change map for the city.
    """

    name: str
    before: xr.Dataset
    after: xr.Dataset
    label: npt.NDArray[np.uint8] | None
    dates: tuple[date, date]
    notes: tuple[str, ...] = field(default=())

    @property
    def shape(self) -> tuple[int, int]:
        """(rows, columns) of the reference grid."""
        first = self.before[next(iter(self.before.data_vars))]
        return (int(first.shape[0]), int(first.shape[1]))


def images_dir(root: Path) -> Path:
    """The images folder of an OSCD-layout ``root``; ``InputError`` if absent."""
    folder = Path(root) / IMAGES_DIR
    if not folder.is_dir():
        raise InputError(
            f"{root}: no folder '{IMAGES_DIR}'; pass the directory that holds the OSCD "
            "'Images' and 'Labels' folders"
        )
    return folder


def list_cities(root: Path) -> list[str]:
    """Names of the city folders of ``root`` (those with ``imgs_1``), sorted."""
    folder = images_dir(root)
    cities = sorted(p.name for p in folder.iterdir() if (p / "imgs_1").is_dir())
    if not cities:
        raise InputError(
            f"{folder}: no city folder with an 'imgs_1' subfolder; is this the OSCD layout?"
        )
    return cities


def band_files(city_dir: Path, date_dir: str, bands: Sequence[str]) -> dict[str, Path]:
    """Map each band to its ``*_<BAND>.tif`` in ``city_dir/date_dir``.

    Raises ``InputError`` naming the city and the missing bands.
    """
    folder = city_dir / date_dir
    if not folder.is_dir():
        raise InputError(
            f"OSCD city '{city_dir.name}': folder {folder} is missing; each city needs "
            "imgs_1 and imgs_2 with one GeoTIFF per band"
        )
    found: dict[str, Path] = {}
    for path in sorted(folder.iterdir()):
        match = _BAND_RE.search(path.name)
        if match:
            found[match.group(1).upper()] = path
    missing = [b for b in bands if b not in found]
    if missing:
        raise InputError(
            f"OSCD city '{city_dir.name}': {date_dir} lacks band(s) {', '.join(missing)} "
            f"(expected files named '*_<BAND>.tif' for {', '.join(bands)})"
        )
    return {b: found[b] for b in bands}


def label_file(root: Path, city: str) -> Path | None:
    """The change map of ``city`` (``<city>-cm.tif``, else ``cm.png``), or ``None``."""
    for folder in LABEL_DIRS:
        cm = Path(root) / folder / city / "cm"
        for candidate in (cm / f"{city}-cm.tif", cm / "cm.png"):
            if candidate.is_file():
                return candidate
    return None


def read_dates(city_dir: Path) -> tuple[date, date]:
    """Acquisition dates from ``dates.txt`` (``date_1: YYYYMMDD``/``date_2: YYYYMMDD``)."""
    path = city_dir / "dates.txt"
    if not path.is_file():
        raise InputError(
            f"OSCD city '{city_dir.name}': {path} is missing; it must give date_1 and date_2"
        )
    values: dict[str, date] = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        key, _, value = line.partition(":")
        try:
            values[key.strip()] = datetime.strptime(value.strip(), "%Y%m%d").date()
        except ValueError:
            continue
    if "date_1" not in values or "date_2" not in values:
        raise InputError(
            f"OSCD city '{city_dir.name}': {path} must hold lines 'date_1: YYYYMMDD' and "
            "'date_2: YYYYMMDD'"
        )
    return values["date_1"], values["date_2"]


@dataclass(frozen=True)
class _Grid:
    shape: tuple[int, int]
    bounds: tuple[float, float, float, float]
    res: tuple[float, float]
    crs: str | None
    transform: tuple[float, ...]


def _reference_grid(path: Path, city: str) -> _Grid:
    try:
        with rasterio.open(path) as src:
            return _Grid(
                shape=(src.height, src.width),
                bounds=tuple(src.bounds),
                res=src.res,
                crs=src.crs.to_string() if src.crs else None,
                transform=tuple(src.transform)[:6],
            )
    except rasterio.errors.RasterioIOError as exc:
        raise InputError(f"OSCD city '{city}': cannot read {path}: {exc}") from exc


def _read_on_grid(path: Path, grid: _Grid, city: str) -> tuple[npt.NDArray[np.uint16], str | None]:
    """Read band 1 of ``path`` on ``grid``; return the array and a note if adjusted.

    Same bounds as the grid: bilinear resampling onto it. Other bounds: resampled to the
    grid's pixel size, then cropped/edge-padded at the bottom/right.
    """
    try:
        with rasterio.open(path) as src:
            native = (src.height, src.width)
            same_bounds = all(
                abs(a - b) <= 0.5 * min(grid.res)
                for a, b in zip(tuple(src.bounds), grid.bounds, strict=True)
            )
            if same_bounds:
                out_shape = grid.shape
            else:
                out_shape = (
                    max(1, round(native[0] * src.res[1] / grid.res[1])),
                    max(1, round(native[1] * src.res[0] / grid.res[0])),
                )
            data = np.asarray(
                src.read(1, out_shape=out_shape, resampling=Resampling.bilinear),
                dtype=np.uint16,
            )
            at_ref_res = abs(src.res[0] - grid.res[0]) < 0.2 * grid.res[0]
    except rasterio.errors.RasterioIOError as exc:
        raise InputError(f"OSCD city '{city}': cannot read {path}: {exc}") from exc
    where = f"{path.parent.name}/{path.name}"
    size = f"{grid.shape[0]}x{grid.shape[1]}"
    if same_bounds:
        if at_ref_res and native != grid.shape:
            return data, (
                f"{where}: {native[0]}x{native[1]} px over the reference bounds, "
                f"resampled (bilinear) onto the {size} date-1 grid"
            )
        return data, None
    return _crop_pad(data, grid.shape), (
        f"{where}: bounds differ from the date-1 grid; {out_shape[0]}x{out_shape[1]} px "
        f"at 10 m cropped/edge-padded to {size} at the bottom/right"
    )


def _crop_pad(data: npt.NDArray[np.uint16], shape: tuple[int, int]) -> npt.NDArray[np.uint16]:
    data = data[: shape[0], : shape[1]]
    pad = ((0, shape[0] - data.shape[0]), (0, shape[1] - data.shape[1]))
    return np.pad(data, pad, mode="edge") if any(p[1] for p in pad) else data


def _date_dataset(files: dict[str, Path], grid: _Grid, city: str, notes: list[str]) -> xr.Dataset:
    rows, cols = grid.shape
    a, _, c, _, e, f = grid.transform
    variables: dict[str, xr.DataArray] = {}
    for band, path in files.items():
        dn, note = _read_on_grid(path, grid, city)
        if note:
            notes.append(note)
        refl = dn.astype(np.float32) / np.float32(DN_SCALE)
        refl[dn == 0] = np.nan
        variables[band] = xr.DataArray(refl, dims=("y", "x"))
    coords = {"y": f + e * (np.arange(rows) + 0.5), "x": c + a * (np.arange(cols) + 0.5)}
    ds = xr.Dataset(variables, coords=coords)
    if grid.crs:
        ds.attrs["crs"] = grid.crs
    return ds


def read_label(path: Path, city: str, shape: tuple[int, int]) -> npt.NDArray[np.uint8]:
    """Read a change map as uint8 0/1 (from 1/2, 0/1 or 0/255 values)."""
    try:
        with warnings.catch_warnings():
            # OSCD change maps carry no georeferencing: they are aligned by pixel.
            warnings.simplefilter("ignore", rasterio.errors.NotGeoreferencedWarning)
            with rasterio.open(path) as src:
                data = np.asarray(src.read(1))
    except rasterio.errors.RasterioIOError as exc:
        raise InputError(f"OSCD city '{city}': cannot read label {path}: {exc}") from exc
    if data.shape != shape:
        raise InputError(
            f"OSCD city '{city}': label {path} is {data.shape[0]}x{data.shape[1]} px but the "
            f"date-1 10 m grid is {shape[0]}x{shape[1]}; labels must be pixel-aligned with it"
        )
    values = set(np.unique(data).tolist())
    if values <= {1, 2}:
        out = data - 1
    elif values <= {0, 1}:
        out = data
    elif values <= {0, 255}:
        out = data // 255
    else:
        raise InputError(
            f"OSCD city '{city}': label {path} holds values {sorted(values)[:6]}; expected "
            "1/2 (no change/change), 0/1 or 0/255"
        )
    return np.ascontiguousarray(out, dtype=np.uint8)


def read_city(
    root: Path, city: str, *, bands: Sequence[str] = S2_BANDS, require_label: bool = True
) -> OscdCity:
    """Read one city of an OSCD-layout ``root`` on its date-1 10 m grid.

    Raises ``InputError`` naming the city folder and what is missing when a folder,
    band file, ``dates.txt`` or (with ``require_label``) the change map is absent.
    """
    city_dir = images_dir(root) / city
    if not city_dir.is_dir():
        raise InputError(
            f"OSCD city '{city}': folder {city_dir} does not exist; "
            f"cities present: {', '.join(list_cities(root))}"
        )
    bands = tuple(bands)
    files1 = band_files(city_dir, "imgs_1", bands)
    files2 = band_files(city_dir, "imgs_2", bands)
    ref_path = band_files(city_dir, "imgs_1", (REFERENCE_BAND,))[REFERENCE_BAND]
    dates = read_dates(city_dir)
    grid = _reference_grid(ref_path, city)
    notes: list[str] = []
    before = _date_dataset(files1, grid, city, notes)
    after = _date_dataset(files2, grid, city, notes)
    label_path = label_file(root, city)
    if label_path is None and require_label:
        raise InputError(
            f"OSCD city '{city}': no change map; expected {LABEL_DIRS[0]}/{city}/cm/"
            f"{city}-cm.tif (or the Test Labels folder) under {root}"
        )
    label = read_label(label_path, city, grid.shape) if label_path else None
    for ds, when in ((before, dates[0]), (after, dates[1])):
        ds.attrs.update({"city": city, "date": when.isoformat()})
    return OscdCity(
        name=city, before=before, after=after, label=label, dates=dates, notes=tuple(notes)
    )


def stack_bands(ds: xr.Dataset, bands: Sequence[str]) -> npt.NDArray[np.float32]:
    """The bands of ``ds`` as a (band, y, x) float32 array; ``InputError`` if one is missing."""
    missing = [b for b in bands if b not in ds.data_vars]
    if missing:
        raise InputError(
            f"dataset lacks band(s) {', '.join(missing)}; the model needs {', '.join(bands)}"
        )
    return np.stack([np.asarray(ds[b].values, dtype=np.float32) for b in bands])


def dataset_checksum(root: Path, cities: Sequence[str], bands: Sequence[str]) -> str:
    """SHA-256 over the relative path and SHA-256 of every image and label file used.

    The same files give the same checksum wherever the folder lies, so a model card can
    say which data it was trained on.
    """
    root = Path(root)
    paths: list[Path] = []
    for city in sorted(cities):
        city_dir = images_dir(root) / city
        paths += band_files(city_dir, "imgs_1", bands).values()
        paths += band_files(city_dir, "imgs_2", bands).values()
        label = label_file(root, city)
        if label is not None:
            paths.append(label)
    digest = hashlib.sha256()
    for path in sorted(paths):
        digest.update(f"{path.relative_to(root).as_posix()}\t{_sha256(path)}\n".encode())
    return digest.hexdigest()


def _sha256(path: Path) -> str:
    return sha256_file(path)
