"""The embedded stac-geoparquet catalog: upsert, round trip, in-process search."""

from __future__ import annotations

from pathlib import Path

import pystac
import pytest

from tests.fixtures.catalog import make_item, sentinel2_assets, utc
from tiandi.catalog.items import item_from_rasters
from tiandi.catalog.store import GeoParquetCatalog
from tiandi.errors import CatalogError, InputError, UnknownCloudCoverWarning

S2 = "sentinel-2-l2a"
NORTH = (116.0, 40.0, 116.1, 40.1)
SOUTH = (116.0, 39.0, 116.1, 39.1)


def _items() -> list[pystac.Item]:
    return [
        make_item("jan-clear", when=utc(2025, 1, 10), cloud=2.0),
        make_item("mar-cloudy", when=utc(2025, 3, 10), cloud=80.0),
        make_item("jun-last-day", when=utc(2025, 6, 30, 23), cloud=5.0),
        make_item("jul-first-day", when=utc(2025, 7, 1, 0), cloud=1.0),
        make_item("mar-south", when=utc(2025, 3, 12), bbox=SOUTH, cloud=0.0),
        make_item("mar-landsat", when=utc(2025, 3, 11), collection="landsat-c2-l2", cloud=3.0),
        make_item("apr-no-cloud-info", when=utc(2025, 4, 1), cloud=None),
    ]


@pytest.fixture()
def catalog(tmp_path: Path) -> GeoParquetCatalog:
    cat = GeoParquetCatalog(tmp_path / "catalog" / "items.parquet")
    cat.add(_items())
    return cat


def _ids(items: list[pystac.Item]) -> list[str]:
    return [i.id for i in items]


def test_round_trip_keeps_real_items_intact(tmp_path: Path) -> None:
    item = item_from_rasters(
        "S2B_MSIL2A_20250312_T50TMK",
        sentinel2_assets(tmp_path / "scene"),
        datetime=utc(2025, 3, 12),
        collection=S2,
        properties={"eo:cloud_cover": 12.5, "s2:processing_baseline": "04.00"},
    )
    cat = GeoParquetCatalog(tmp_path / "items.parquet")
    cat.add([item])
    (back,) = cat.items()
    assert back.to_dict() == item.to_dict()


def test_items_of_a_missing_catalog_are_empty(tmp_path: Path) -> None:
    assert GeoParquetCatalog(tmp_path / "none.parquet").items() == []


def test_add_upserts_by_collection_and_id(catalog: GeoParquetCatalog) -> None:
    before = len(catalog.items())
    catalog.add(
        [
            make_item("jan-clear", when=utc(2025, 1, 10), cloud=55.0),  # replaces
            make_item("jan-clear", when=utc(2025, 1, 10), collection="other"),  # new
        ]
    )
    items = {(i.collection_id, i.id): i for i in catalog.items()}
    assert len(items) == before + 1
    assert items[(S2, "jan-clear")].properties["eo:cloud_cover"] == 55.0
    assert ("other", "jan-clear") in items


def test_same_items_give_the_same_bytes_in_any_order(tmp_path: Path) -> None:
    a = GeoParquetCatalog(tmp_path / "a.parquet")
    b = GeoParquetCatalog(tmp_path / "b.parquet")
    a.add(_items())
    b.add(list(reversed(_items())))
    b.add(_items()[:2])  # re-registering changes nothing
    assert a.path.read_bytes() == b.path.read_bytes()


def test_search_by_bbox(catalog: GeoParquetCatalog) -> None:
    found = catalog.search(bbox=(116.02, 39.02, 116.05, 39.05))
    assert _ids(found) == ["mar-south"]


def test_search_by_period_includes_both_end_days(catalog: GeoParquetCatalog) -> None:
    found = catalog.search(datetime="2025-01-01/2025-06-30", collections=[S2])
    assert _ids(found) == [
        "jan-clear",
        "mar-cloudy",
        "mar-south",
        "apr-no-cloud-info",
        "jun-last-day",
    ]
    assert "jul-first-day" in _ids(catalog.search(datetime="2025-07-01/2025-12-31"))


def test_search_by_collection(catalog: GeoParquetCatalog) -> None:
    assert _ids(catalog.search(collections=["landsat-c2-l2"])) == ["mar-landsat"]
    assert catalog.search(collections=["no-such-collection"]) == []


def test_search_by_max_cloud_cover_drops_cloudy_keeps_unknown_with_a_warning(
    catalog: GeoParquetCatalog,
) -> None:
    with pytest.warns(UnknownCloudCoverWarning, match="apr-no-cloud-info") as caught:
        found = catalog.search(max_cloud_cover=10, collections=[S2], bbox=NORTH)
    assert _ids(found) == ["jan-clear", "apr-no-cloud-info", "jun-last-day", "jul-first-day"]
    assert len(caught) == 1
    assert "jan-clear" not in str(caught[0].message)


def test_search_by_max_cloud_cover_with_limit_counts_kept_items(
    catalog: GeoParquetCatalog,
) -> None:
    with pytest.warns(UnknownCloudCoverWarning):
        found = catalog.search(max_cloud_cover=10, collections=[S2], limit=3)
    assert _ids(found) == ["jan-clear", "mar-south", "apr-no-cloud-info"]


def test_search_without_any_cloud_cover_keeps_every_item(tmp_path: Path) -> None:
    cat = GeoParquetCatalog(tmp_path / "items.parquet")
    cat.add([make_item(f"d{day}", when=utc(2025, 1, day), cloud=None) for day in (1, 2, 3)])
    with pytest.warns(UnknownCloudCoverWarning, match="3 item"):
        found = cat.search(max_cloud_cover=5)
    assert _ids(found) == ["d1", "d2", "d3"]


def test_search_results_are_sorted_by_datetime_and_limited(catalog: GeoParquetCatalog) -> None:
    found = catalog.search()
    times = [i.datetime for i in found]
    assert times == sorted(times)  # type: ignore[type-var]
    assert len(found) == len(_items())
    assert _ids(catalog.search(limit=2)) == ["jan-clear", "mar-cloudy"]


def test_search_of_a_missing_catalog_says_to_register_first(tmp_path: Path) -> None:
    with pytest.raises(CatalogError, match="register items first"):
        GeoParquetCatalog(tmp_path / "none.parquet").search()


def test_empty_catalog_file_is_a_catalog_error(tmp_path: Path) -> None:
    path = tmp_path / "items.parquet"
    path.write_bytes(b"")
    with pytest.raises(CatalogError, match="empty file"):
        GeoParquetCatalog(path).search()
    with pytest.raises(CatalogError, match="empty file"):
        GeoParquetCatalog(path).add([make_item("a", when=utc(2025, 1, 1))])


def test_damaged_catalog_file_is_a_catalog_error(tmp_path: Path) -> None:
    path = tmp_path / "items.parquet"
    path.write_bytes(b"PAR1 this is not parquet")
    with pytest.raises(CatalogError, match="delete it and register"):
        GeoParquetCatalog(path).items()


def test_failed_write_leaves_the_catalog_as_it_was(catalog: GeoParquetCatalog) -> None:
    before = catalog.path.read_bytes()
    clash = make_item("clash", when=utc(2025, 2, 1))
    clash.assets["B04"].extra_fields["raster:bands"] = [{"data_type": "float32", "nodata": "nan"}]
    with pytest.raises(CatalogError, match="one type"):
        catalog.add([clash])
    assert catalog.path.read_bytes() == before
    assert sorted(p.name for p in catalog.path.parent.iterdir()) == ["items.parquet"]


def test_item_without_collection_is_an_input_error(tmp_path: Path) -> None:
    item = make_item("a", when=utc(2025, 1, 1))
    item.collection_id = None
    with pytest.raises(InputError, match="no collection"):
        GeoParquetCatalog(tmp_path / "c.parquet").add([item])


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"datetime": "last spring"}, "not a period"),
        ({"datetime": "../.."}, "not a period"),
        ({"bbox": (116.0, 40.0, 116.1)}, "four finite numbers"),
        ({"bbox": (116.0, 41.0, 116.1, 40.0)}, "south <= north"),
        ({"max_cloud_cover": 120}, "between 0 and 100"),
        ({"limit": 0}, "positive whole number"),
    ],
)
def test_malformed_search_criteria_are_input_errors(
    catalog: GeoParquetCatalog, kwargs: dict[str, object], message: str
) -> None:
    with pytest.raises(InputError, match=message):
        catalog.search(**kwargs)  # type: ignore[arg-type]
