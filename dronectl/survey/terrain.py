"""Terrain from a local DEM GeoTIFF: ground heights and terrain-following altitude profiles.

The DEM is read once (the window covering the survey) and sampled bilinearly. A leg's altitude
profile is the ground plus the wanted height; extra waypoints are inserted, Douglas-Peucker style,
wherever flying straight between two waypoints would leave the height band by more than the tolerance.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from pyproj import CRS, Transformer

from dronectl.errors import InputError


@dataclass
class Terrain:
    heights: np.ndarray  # float64, NaN where no data
    inv_affine: tuple  # (a, b, c, d, e, f) metric-CRS -> fractional (col, row), after reprojection
    to_dem: Transformer
    step_m: float  # sampling step along legs
    path: str

    @classmethod
    def load(cls, path: str, metric_crs: CRS, bounds_metric: tuple[float, float, float, float]) -> "Terrain":
        import rasterio
        from rasterio.windows import from_bounds

        try:
            ds = rasterio.open(path)
        except Exception as exc:  # rasterio raises RasterioIOError and friends
            msg = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            if "not recognized as being in a supported file format" in msg:
                msg = "not a raster GDAL reads; give a GeoTIFF DEM"
            raise InputError(f"cannot read DEM {path}: {msg}") from None
        with ds:
            if ds.crs is None:
                raise InputError(f"DEM {path} has no CRS: give it one (gdal_edit.py -a_srs EPSG:2154 {path})")
            to_dem = Transformer.from_crs(metric_crs, ds.crs, always_xy=True)
            w, s, e, n = bounds_metric
            xs, ys = to_dem.transform([w, e, e, w], [s, s, n, n])
            dw, ds_, de, dn = min(xs), min(ys), max(xs), max(ys)
            b = ds.bounds
            if dw < b.left or de > b.right or ds_ < b.bottom or dn > b.top:
                raise InputError(f"DEM {path} does not cover the survey area (it spans {b.left:.0f},{b.bottom:.0f} to "
                                 f"{b.right:.0f},{b.top:.0f} in {ds.crs}); use a DEM that covers the zone")
            win = from_bounds(dw, ds_, de, dn, ds.transform).round_offsets().round_lengths()
            win = win.intersection(rasterio.windows.Window(0, 0, ds.width, ds.height))
            # one pixel of margin for bilinear sampling
            col0 = max(0, int(win.col_off) - 1)
            row0 = max(0, int(win.row_off) - 1)
            col1 = min(ds.width, int(win.col_off + win.width) + 2)
            row1 = min(ds.height, int(win.row_off + win.height) + 2)
            window = rasterio.windows.Window(col0, row0, col1 - col0, row1 - row0)
            arr = ds.read(1, window=window, masked=True).astype("float64").filled(np.nan)
            t = ds.window_transform(window)
            res = max(abs(ds.res[0]), abs(ds.res[1]))
        valid = arr[~np.isnan(arr)]
        if valid.size == 0:
            raise InputError(f"DEM {path} has no data over the survey area; use a DEM that covers the zone")
        from dronectl.limits import GROUND_M

        lo, hi = float(valid.min()), float(valid.max())
        if not (GROUND_M[0] <= lo and hi <= GROUND_M[1]):
            raise InputError(f"DEM {path} holds heights from {lo:g} to {hi:g} m over the survey area, outside "
                             f"{GROUND_M[0]:g} to {GROUND_M[1]:g} m: is its nodata value declared "
                             f"(gdal_edit.py -a_nodata VALUE {path})?")
        inv = ~t
        return cls(arr, (inv.a, inv.b, inv.c, inv.d, inv.e, inv.f), to_dem, max(res, 2.0), path)

    def ground(self, x_m, y_m) -> np.ndarray:
        """Ground height (m) at metric points, bilinear; raises InputError where the DEM has no data."""
        x = np.atleast_1d(np.asarray(x_m, dtype=float))
        y = np.atleast_1d(np.asarray(y_m, dtype=float))
        dx, dy = self.to_dem.transform(x, y)
        a, b, c, d, e, f = self.inv_affine
        col = a * np.asarray(dx) + b * np.asarray(dy) + c - 0.5
        row = d * np.asarray(dx) + e * np.asarray(dy) + f - 0.5
        h, w = self.heights.shape
        col = np.clip(col, 0, w - 1)
        row = np.clip(row, 0, h - 1)
        c0 = np.clip(np.floor(col).astype(int), 0, max(w - 2, 0))
        r0 = np.clip(np.floor(row).astype(int), 0, max(h - 2, 0))
        c1, r1 = np.minimum(c0 + 1, w - 1), np.minimum(r0 + 1, h - 1)
        fc, fr = col - c0, row - r0
        z = (self.heights[r0, c0] * (1 - fc) * (1 - fr) + self.heights[r0, c1] * fc * (1 - fr)
             + self.heights[r1, c0] * (1 - fc) * fr + self.heights[r1, c1] * fc * fr)
        if np.isnan(z).any():
            raise InputError(f"DEM {self.path} has no data under part of the flight path; fill its gaps or use "
                             "another DEM")
        return z

    def profile(self, p, q, height_m: float, tolerance_m: float) -> list[tuple[float, float, float]]:
        """Waypoints (x, y, altitude above ground datum) from p to q keeping height within tolerance."""
        length = math.dist(p, q)
        n = max(2, int(math.ceil(length / self.step_m)) + 1)
        t = np.linspace(0.0, 1.0, n)
        xs = p[0] + (q[0] - p[0]) * t
        ys = p[1] + (q[1] - p[1]) * t
        zs = self.ground(xs, ys) + height_m
        keep = {0, n - 1}
        stack = [(0, n - 1)]
        while stack:
            i, j = stack.pop()
            if j - i < 2:
                continue
            line = zs[i] + (zs[j] - zs[i]) * (t[i + 1:j] - t[i]) / (t[j] - t[i])
            dev = np.abs(zs[i + 1:j] - line)
            k = int(np.argmax(dev))
            if dev[k] > tolerance_m:
                m = i + 1 + k
                keep.add(m)
                stack += [(i, m), (m, j)]
        return [(float(xs[i]), float(ys[i]), float(zs[i])) for i in sorted(keep)]
