"""Earth observation: the pixel grid of a run, cloud-free period composites of Sentinel-2
L2A items, spectral indices, COG input/output, cloud masks for inputs without SCL, and the
co-registration and chipping of UAV orthophotos.

Modules: ``grid`` (grids are ``odc.geo`` GeoBoxes: ``grid_for_zones``,
``geobox_for_bounds``), ``composite`` (``composite_period``), ``indices``
(``add_indices``), ``cog`` (``write_cog``, ``read_cog``), ``storage`` (composites as uint16
COGs between flow steps), ``clouds`` (cloud/shadow masks, Landsat QA), ``coregister``
(phase correlation of an orthophoto to a composite), ``chips`` (PNG chips around
patches), ``uav_ingest`` (check, co-register and chip an orthophoto); private:
``_fused`` (one composite chunk: windowed reads, mask, median), ``_kernels`` (its numpy
kernels), ``_readers`` (input files kept open per thread for a pass), ``_pieces`` and
``_pipeline`` (how ``write_cogs`` computes a pass, ``release_pass`` at its end),
``_overviews`` (nearest overview levels picked per window), ``_tiles`` (a COG's tiles
encoded where each chunk is computed), ``_cogfile`` (the COG laid out from them),
``_gdalcog`` (GDAL's COG driver, for overviews it builds itself),
``_harmonise`` (processing baseline offsets).

Public API below; import it from here. Names resolve lazily (see
:mod:`tiandi._exports`), so importing one module of this package imports no other.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from tiandi._exports import lazy_exports

if TYPE_CHECKING:
    from tiandi.eo._pipeline import release_pass as release_pass
    from tiandi.eo.chips import Chip as Chip
    from tiandi.eo.chips import write_chips as write_chips
    from tiandi.eo.clouds import cloud_shadow_mask as cloud_shadow_mask
    from tiandi.eo.clouds import scl_from_masks as scl_from_masks
    from tiandi.eo.cog import read_cog as read_cog
    from tiandi.eo.cog import read_cog_dataset as read_cog_dataset
    from tiandi.eo.cog import write_cog as write_cog
    from tiandi.eo.composite import DEFAULT_BANDS as DEFAULT_BANDS
    from tiandi.eo.composite import composite_period as composite_period
    from tiandi.eo.coregister import Coregistration as Coregistration
    from tiandi.eo.grid import geobox_for_bounds as geobox_for_bounds
    from tiandi.eo.grid import grid_for_zones as grid_for_zones
    from tiandi.eo.indices import INDICES as INDICES
    from tiandi.eo.indices import add_indices as add_indices
    from tiandi.eo.storage import read_composite as read_composite
    from tiandi.eo.storage import write_composite as write_composite
    from tiandi.eo.uav_ingest import UavIngest as UavIngest
    from tiandi.eo.uav_ingest import ingest_uav as ingest_uav

_EXPORTS = {
    "grid_for_zones": "grid",
    "geobox_for_bounds": "grid",
    "DEFAULT_BANDS": "composite",
    "composite_period": "composite",
    "INDICES": "indices",
    "add_indices": "indices",
    "write_cog": "cog",
    "read_cog": "cog",
    "read_cog_dataset": "cog",
    "release_pass": "_pipeline",
    "write_composite": "storage",
    "read_composite": "storage",
    "cloud_shadow_mask": "clouds",
    "scl_from_masks": "clouds",
    "Coregistration": "coregister",
    "Chip": "chips",
    "write_chips": "chips",
    "UavIngest": "uav_ingest",
    "ingest_uav": "uav_ingest",
}
__all__ = sorted(_EXPORTS)
__getattr__ = lazy_exports(__name__, _EXPORTS)
