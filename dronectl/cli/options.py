"""Option decorators and parameter types shared by several command groups."""

from __future__ import annotations

import click

zones_option = click.option("--zones", "zones_file", type=click.Path(dir_okay=False),
                            help="Zone file (GeoJSON or GeoPackage). Default: missions/zones/soissons.geojson.")
cameras_option = click.option("--cameras", "cameras_file", type=click.Path(dir_okay=False),
                              help="Extra cameras (TOML [[camera]] tables or JSON list).")
airspace_option = click.option("--airspace", "airspace_file", type=click.Path(dir_okay=False),
                               help="Airspace restrictions (GeoJSON with ceiling_m). Default: missions/airspace/soissons.geojson.")


class LatLon(click.ParamType):
    """``LAT,LON`` or ``LAT,LON,ALT`` in decimal degrees (and metres)."""

    name = "LAT,LON[,ALT]"

    def convert(self, value, param, ctx):
        if isinstance(value, tuple):
            return value
        try:
            parts = [float(x) for x in str(value).split(",")]
        except ValueError:
            parts = []
        if len(parts) not in (2, 3) or not (-90 <= parts[0] <= 90 and -180 <= parts[1] <= 180):
            self.fail(f"'{value}' is not LAT,LON[,ALT] in decimal degrees (e.g. 49.3817,3.3236)", param, ctx)
        return tuple(parts)


LATLON = LatLon()
