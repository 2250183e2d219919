"""The demo scene's grid: its projected CRS, its upper-left corner and pixel size (10 m
bands; the 20 m bands are twice as coarse), and the CRS its vectors are written in."""

from __future__ import annotations

CRS = "EPSG:32650"
VECTOR_CRS = "EPSG:4490"
X0, Y0, RES = 400000.0, 4460000.0, 10.0
