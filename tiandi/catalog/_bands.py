"""Band metadata tiandi knows by name: Sentinel-2 MSI bands and the L2A scene classes.

Centre wavelengths (µm) and widths follow the Sentinel-2 MSI spectral response of S2A as
published by ESA; common names are those of the STAC ``eo`` extension v1.1.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class SpectralBand:
    """One Sentinel-2 band: STAC common name, centre wavelength and FWHM in µm."""

    common_name: str
    center_wavelength: float
    full_width_half_max: float
    resolution: float


SENTINEL2_BANDS: dict[str, SpectralBand] = {
    "B01": SpectralBand("coastal", 0.443, 0.027, 60.0),
    "B02": SpectralBand("blue", 0.490, 0.098, 10.0),
    "B03": SpectralBand("green", 0.560, 0.045, 10.0),
    "B04": SpectralBand("red", 0.665, 0.038, 10.0),
    "B05": SpectralBand("rededge", 0.704, 0.019, 20.0),
    "B06": SpectralBand("rededge", 0.740, 0.018, 20.0),
    "B07": SpectralBand("rededge", 0.783, 0.028, 20.0),
    "B08": SpectralBand("nir", 0.842, 0.145, 10.0),
    "B8A": SpectralBand("nir08", 0.865, 0.033, 20.0),
    "B09": SpectralBand("nir09", 0.945, 0.026, 60.0),
    "B10": SpectralBand("cirrus", 1.375, 0.075, 60.0),
    "B11": SpectralBand("swir16", 1.610, 0.143, 20.0),
    "B12": SpectralBand("swir22", 2.190, 0.242, 20.0),
}

# Sentinel-2 L2A scene classification (SCL) values and their names.
SCL_CLASSES: dict[int, str] = {
    0: "no_data",
    1: "saturated_or_defective",
    2: "dark_area_pixels",
    3: "cloud_shadows",
    4: "vegetation",
    5: "not_vegetated",
    6: "water",
    7: "unclassified",
    8: "cloud_medium_probability",
    9: "cloud_high_probability",
    10: "thin_cirrus",
    11: "snow",
}

SCL_ASSET = "SCL"
