"""Synthetic Sentinel-2 L2A demo scene with planted human-activity events of known truth.

``generate_scene(out_dir, size=2048, seed=0)`` writes (deterministic, byte-identical on
re-runs with the same size and seed)::

    out_dir/scenes/<item_id>/{B02,B03,B04,B08}.tif   uint16 COG, 10 m, nodata 0
    out_dir/scenes/<item_id>/{B11,B12}.tif           uint16 COG, 20 m, nodata 0
    out_dir/scenes/<item_id>/SCL.tif                 uint8 COG, 20 m, nodata 0
    out_dir/scenes.json     one entry per acquisition (relative asset paths)
    out_dir/zones.gpkg      layer "zones": reserve (核心区/缓冲区/实验区) + 3 red-line zones
    out_dir/stations.gpkg   layer "stations": 3 jurisdictions tiling the scene
    out_dir/truth.gpkg      layer "events": exact footprints of the planted events;
                            layer "disturbances": the planted ecological disturbances

on EPSG:32650 (upper-left corner 400000, 4460000; 10 m), vectors in EPSG:4490. Ten
acquisitions, five per half year of 2025, some almost clear, one very cloudy; half of
them on processing baseline 04.00 (+1000 DN). The events appear between the periods.

With ``disturbances`` (opt-in; off, the files are those of the generator without them,
byte for byte) the scene also has three cloud-free acquisitions of August and September
2024 (:data:`BASELINE_ACQUISITIONS`, in neither period: the earlier year that forest
dieback is compared with) and planted ecological disturbances
(:mod:`tiandi.demo.scene_disturbances`: a burn scar, a dieback stand, a bloom in the
reservoir on two dates, a reclaimed strip of its shore), painted with real pixels read at
generation time from ``../shared/data`` (:mod:`tiandi.demo.scene_real`; ``real_data`` or
``$TIANDI_DEMO_DATA`` point elsewhere; ``InputError`` when that folder is absent), listed
in ``truth.gpkg`` layer "disturbances". They are placed apart from the events and drawn
from their own random streams, so the events' pixels are those of a scene without them.
It imports nothing of the pipeline: it is a data source, not part of it.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
from rasterio.transform import Affine

from tiandi.demo.scene_disturbances import DisturbancePlan, Paint, plant_disturbances
from tiandi.demo.scene_events import EventPlan, plant_events
from tiandi.demo.scene_fields import F32
from tiandi.demo.scene_grid import CRS, RES, X0, Y0
from tiandi.demo.scene_io import write_cog, write_json
from tiandi.demo.scene_landcover import U8, LandCover, build_landcover
from tiandi.demo.scene_layout import Layout, make_layout
from tiandi.demo.scene_real import RealSpectra, load_real_spectra, real_folder
from tiandi.demo.scene_real_covers import RealCovers, RealSurface, load_real_covers, real_surface
from tiandi.demo.scene_render import Acquisition, render
from tiandi.demo.scene_spectra import BANDS_10M, BANDS_20M
from tiandi.demo.scene_vectors import write_vectors
from tiandi.errors import InputError

PERIODS = ("2025-01-01/2025-06-30", "2025-07-01/2025-12-31")
SPECTRA = ("synthetic", "real")
"""``generate_scene``'s ``spectra``: the hand-set table, or real pixels
(:mod:`tiandi.demo.scene_real_covers`)."""
MIN_SIZE, MAX_SIZE = 256, 16384

_B, _C = "sentinel-2b", "sentinel-2c"
ACQUISITIONS = (
    Acquisition(date(2025, 2, 6), "02:57:11", _C, "03.01", 0.85),
    Acquisition(date(2025, 4, 12), "02:56:49", _B, "04.00", 0.10),
    Acquisition(date(2025, 5, 17), "02:57:03", _C, "03.01", 0.01),
    Acquisition(date(2025, 6, 1), "02:56:41", _B, "04.00", 0.30, cirrus=True),
    Acquisition(date(2025, 6, 21), "02:56:58", _C, "04.00", 0.05, nodata_corner=True),
    Acquisition(date(2025, 7, 21), "02:56:44", _B, "04.00", 0.25, cirrus=True),
    Acquisition(date(2025, 8, 10), "02:57:06", _C, "03.01", 0.02),
    Acquisition(date(2025, 8, 30), "02:56:52", _B, "04.00", 0.06),
    Acquisition(date(2025, 9, 24), "02:57:09", _C, "03.01", 0.40),
    Acquisition(date(2025, 11, 3), "02:56:47", _B, "04.00", 0.12, nodata_corner=True),
)
_SPLIT = date(2025, 7, 1)
_A = "sentinel-2a"
BASELINE_ACQUISITIONS = (
    Acquisition(date(2024, 8, 10), "02:57:02", _A, "04.00", 0.0),
    Acquisition(date(2024, 8, 30), "02:56:55", _B, "04.00", 0.0),
    Acquisition(date(2024, 9, 5), "02:57:08", _A, "04.00", 0.0),
)
"""Earlier-year acquisitions of the same season as August 2025, cloud-free: the dieback
baseline (three clear observations within 30 days of each August 2025 date) and, the two
of August on the same days as 2025's, the burned-area run's before period."""
BLOOM_DAYS = (date(2025, 8, 10), date(2025, 8, 30))
"""The acquisitions that see the bloom in the reservoir."""

Progress = Callable[[str], None]


@dataclass(frozen=True)
class SceneEntry:
    """One acquisition as listed in ``scenes.json``; asset paths are absolute here."""

    item_id: str
    datetime: datetime
    platform: str
    cloud_cover: float
    processing_baseline: str
    boa_add_offset: int
    period: str  # "before", "after" or "baseline" (the earlier year)
    assets: Mapping[str, Path]

    def to_json(self, root: Path) -> dict[str, Any]:
        """The ``scenes.json`` record, with asset paths relative to ``root``."""
        return {
            "item_id": self.item_id,
            "datetime": self.datetime.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "platform": self.platform,
            "cloud_cover": self.cloud_cover,
            "processing_baseline": self.processing_baseline,
            "boa_add_offset": self.boa_add_offset,
            "assets": {b: p.relative_to(root).as_posix() for b, p in self.assets.items()},
        }


@dataclass(frozen=True)
class SceneManifest:
    """What ``generate_scene`` wrote."""

    root: Path
    scenes_json: Path
    zones: Path
    stations: Path
    truth: Path
    scenes: tuple[SceneEntry, ...]
    periods: tuple[str, str] = PERIODS
    crs: str = CRS
    bounds: tuple[float, float, float, float] = (0.0, 0.0, 0.0, 0.0)


def _check(out_dir: Path, size: int, seed: int, spectra: str = "synthetic") -> None:
    if spectra not in SPECTRA:
        raise InputError(f"demo scene spectra {spectra!r} is unknown; use one of {SPECTRA}")
    if isinstance(size, bool) or not isinstance(size, int) or not MIN_SIZE <= size <= MAX_SIZE:
        raise InputError(
            f"demo scene size {size!r} is not an integer between {MIN_SIZE} and {MAX_SIZE}; "
            "pass e.g. --size 2048"
        )
    if size % 2:
        raise InputError(
            f"demo scene size {size} is odd; pass an even size (20 m bands are size/2)"
        )
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise InputError(
            f"demo scene seed {seed!r} is not a non-negative integer; pass e.g. --seed 0"
        )
    if out_dir.exists() and not out_dir.is_dir():
        raise InputError(f"demo scene folder {out_dir} is a file; pass a folder path")


def _write_acquisition(
    root: Path,
    acq: Acquisition,
    surface: tuple[U8, F32, list[Paint], RealSurface | None],
    rng: np.random.Generator,
    pool: ThreadPoolExecutor,
    pending: list[Future[None]],
) -> tuple[SceneEntry, list[Future[None]]]:
    """Render one acquisition over ``surface`` (cover, texture, painted real pixels),
    then (once ``pending`` writes are done) write its COGs.

    The writes run in ``pool`` while the caller renders the next acquisition, so at most
    two acquisitions are in memory at a time.
    """
    after = acq.day >= _SPLIT
    cover, texture, paint, real = surface
    shot = render(acq, cover, texture, rng, paint, None if real is None else real.band)
    for job in pending:
        job.result()
    folder = root / "scenes" / acq.item_id
    folder.mkdir(parents=True, exist_ok=True)
    t10 = Affine(RES, 0.0, X0, 0.0, -RES, Y0)
    t20 = Affine(2 * RES, 0.0, X0, 0.0, -2 * RES, Y0)
    assets: dict[str, Path] = {}
    jobs = []
    for band in (*BANDS_10M, *BANDS_20M, "SCL"):
        path = folder / f"{band}.tif"
        jobs.append(
            pool.submit(
                write_cog,
                path,
                shot.scl if band == "SCL" else shot.bands[band],
                transform=t10 if band in BANDS_10M else t20,
                crs=CRS,
                nodata=0,
                resampling="nearest" if band == "SCL" else "average",
                description=band,
            )
        )
        assets[band] = path
    hh, mm, ss = (int(v) for v in acq.time.split(":"))
    entry = SceneEntry(
        item_id=acq.item_id,
        datetime=datetime(acq.day.year, acq.day.month, acq.day.day, hh, mm, ss, tzinfo=UTC),
        platform=acq.platform,
        cloud_cover=shot.cloud_cover,
        processing_baseline=acq.baseline,
        boa_add_offset=-acq.offset,
        period="after" if after else ("before" if acq.day.year == _SPLIT.year else "baseline"),
        assets=assets,
    )
    return entry, jobs


def _between_periods() -> tuple[date, date]:
    """The first and last day between the periods: when the events and the disturbances
    happen."""
    last_before = max(a.day for a in ACQUISITIONS if a.day < _SPLIT)
    first_after = min(a.day for a in ACQUISITIONS if a.day >= _SPLIT)
    return last_before + timedelta(days=1), first_after - timedelta(days=1)


def _disturbances(
    layout: Layout,
    land: LandCover,
    plan: EventPlan,
    rng: np.random.Generator,
    spectra: RealSpectra,
) -> DisturbancePlan:
    """The planted disturbances, painted with ``spectra``."""
    first_day, last_day = _between_periods()
    return plant_disturbances(
        layout,
        land,
        plan,
        spectra,
        rng,
        first_day=first_day,
        last_day=last_day,
        bloom_days=BLOOM_DAYS,
    )


@dataclass(frozen=True)
class _Plan:
    """What the acquisitions are rendered from: the landscape, the planted events and
    disturbances, and the acquisitions in order, each with its random stream."""

    layout: Layout
    land: LandCover
    events: EventPlan
    planted: DisturbancePlan | None
    series: list[tuple[Acquisition, np.random.Generator]]
    real: RealSurface | None = None


def _plan(
    size: int, seed: int, spectra: RealSpectra | None, say: Progress, covers: RealCovers | None
) -> _Plan:
    """Draw the landscape and the events (and, with ``spectra``, the disturbances and the
    earlier year's acquisitions; with ``covers``, the real surface from a stream of its
    own) from the random streams of ``seed`` and ``size``."""
    streams = np.random.SeedSequence([seed, size]).spawn(3 + len(ACQUISITIONS))
    rngs = [np.random.default_rng(s) for s in streams]
    # the disturbances and the earlier year draw from streams of their own: the events
    # and the 2025 acquisitions are drawn exactly as without them
    extra = np.random.SeedSequence([seed, size, 1]).spawn(1 + len(BASELINE_ACQUISITIONS))
    extra_rngs = [np.random.default_rng(s) for s in extra]
    layout = make_layout(size, rngs[0])
    land = build_landcover(layout, rngs[1])
    first_day, last_day = _between_periods()
    plan = plant_events(layout, land, rngs[2], first_day=first_day, last_day=last_day)
    planted = None
    series = [(a, rngs[3 + i]) for i, a in enumerate(ACQUISITIONS)]
    if spectra is not None:
        planted = _disturbances(layout, land, plan, extra_rngs[0], spectra)
        series = [(a, extra_rngs[1 + i]) for i, a in enumerate(BASELINE_ACQUISITIONS)] + series
        say(
            f"landscape {size}x{size} px with {len(plan.events)} planted events and "
            f"{len(planted.disturbances)} planted disturbances"
        )
    else:
        say(f"landscape {size}x{size} px with {len(plan.events)} planted events")
    real = None
    if covers is not None:
        rng = np.random.default_rng(np.random.SeedSequence([seed, size, 2]))
        real = real_surface(covers, land.cover, plan.cover_after, rng)
        say("every cover painted with real Sentinel-2 pixels (EuroSAT, eo-learn greenness)")
    return _Plan(layout, land, plan, planted, series, real)


def _write_series(root: Path, planned: _Plan, say: Progress) -> list[SceneEntry]:
    """Render and write every acquisition of ``planned`` in order, two COG writers in
    the background."""
    land, plan, planted = planned.land, planned.events, planned.planted
    cover_after = plan.cover_after if planted is None else planted.cover_after
    entries: list[SceneEntry] = []
    pending: list[Future[None]] = []
    total = len(planned.series)
    with ThreadPoolExecutor(max_workers=2, thread_name_prefix="demo-cog") as pool:
        for i, (acq, rng) in enumerate(planned.series):
            after = acq.day >= _SPLIT
            paint = [] if planted is None else planted.paint(acq.day)
            if planned.real is not None and after:
                paint = [planned.real.events, *paint]
            surface = (
                cover_after if after else land.cover,
                plan.texture_after if after else land.texture,
                paint,
                planned.real,
            )
            entry, pending = _write_acquisition(root, acq, surface, rng, pool, pending)
            entries.append(entry)
            say(f"scene {i + 1}/{total} {acq.item_id} cloud {entry.cloud_cover:.1f} %")
        for job in pending:
            job.result()
    return entries


def generate_scene(
    out_dir: Path,
    *,
    size: int = 2048,
    seed: int = 0,
    progress: Progress | None = None,
    real_data: Path | None = None,
    disturbances: bool = False,
    spectra: str = "synthetic",
) -> SceneManifest:
    """Generate the demo scene series, zones, stations and truth into ``out_dir``.

    ``size`` is the side in 10 m pixels (even, 256..16384); ``seed`` picks the landscape,
    the events and the clouds. ``progress``, when given, receives one line per step.
    ``disturbances``: also the 2024 baseline acquisitions and the planted disturbances
    (module docstring); ``real_data``: the folder of the real data sets they are painted
    from (default ``$TIANDI_DEMO_DATA`` or ``../shared/data``). ``spectra="real"``: every
    cover painted with real Sentinel-2 pixels read from there
    (:mod:`tiandi.demo.scene_real_covers`; what is real and what is modelled is written
    to ``out_dir/spectra.json``); the layout, events and clouds are those of the
    synthetic scene of the same size and seed.
    Raises ``InputError`` for a bad size, seed, spectra or folder, a folder that cannot be
    written, or, with ``disturbances`` or real spectra, an absent real data folder.
    """
    out_dir = Path(out_dir)
    _check(out_dir, size, seed, spectra)
    say = progress or (lambda _msg: None)
    # the real pixels, before any file is written
    pools = load_real_spectra(real_folder(real_data, "disturbances")) if disturbances else None
    covers = load_real_covers(real_folder(real_data, "covers")) if spectra == "real" else None
    root = out_dir.resolve()
    root.mkdir(parents=True, exist_ok=True)
    planned = _plan(size, seed, pools, say, covers)
    entries = _write_series(root, planned, say)
    write_vectors(root, planned.layout, planned.events, planned.planted)
    scenes_json = root / "scenes.json"
    write_json(scenes_json, [e.to_json(root) for e in entries])
    if covers is not None:
        write_json(root / "spectra.json", covers.sources)
    return SceneManifest(
        root=root,
        scenes_json=scenes_json,
        zones=root / "zones.gpkg",
        stations=root / "stations.gpkg",
        truth=root / "truth.gpkg",
        scenes=tuple(entries),
        bounds=(X0, Y0 - RES * size, X0 + RES * size, Y0),
    )


def main(argv: list[str] | None = None) -> int:
    """``python -m tiandi.demo.scene OUT --size N --seed S [--disturbances]``."""
    parser = argparse.ArgumentParser(prog="python -m tiandi.demo.scene", description=__doc__)
    parser.add_argument("out", type=Path, help="output folder")
    parser.add_argument("--size", type=int, default=2048, help="side in 10 m pixels")
    parser.add_argument("--seed", type=int, default=0, help="random seed")
    parser.add_argument(
        "--disturbances", action="store_true", help="plant the ecological disturbances too"
    )
    parser.add_argument(
        "--real-spectra", action="store_true", help="paint every cover with real pixels"
    )
    args = parser.parse_args(argv)
    start = time.perf_counter()
    try:
        manifest = generate_scene(
            args.out,
            size=args.size,
            seed=args.seed,
            progress=print,
            disturbances=args.disturbances,
            spectra="real" if args.real_spectra else "synthetic",
        )
    except InputError as exc:
        print(f"error: {exc}", file=sys.stderr)
        from tiandi.cli.exit_codes import exit_code

        return exit_code(exc)
    print(f"{len(manifest.scenes)} scenes in {manifest.root} ({time.perf_counter() - start:.1f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
