"""Option decorators and parameter types shared by several command groups."""

from __future__ import annotations

import click

def _choose_layer(ctx, param, value):
    from dronectl.geo import choose_layer

    choose_layer(value)
    return value


layer_option = click.option("--layer", expose_value=False, callback=_choose_layer, is_eager=True,
                            help="Layer to read in multi-layer files (GeoPackage, KML folders); a file of several "
                                 "layers without it is refused with their names.")
_zones_file_option = click.option(
    "--zones", "zones_file", type=click.Path(dir_okay=False),
    help="Zone file: GeoJSON, GeoPackage, KML, Shapefile or GML, any CRS. Default: missions/zones/soissons.geojson.")


def zones_option(f):
    """``--zones FILE`` and ``--layer NAME`` (for a multi-layer zone, polygon or exclusion file)."""
    return _zones_file_option(layer_option(f))


cameras_option = click.option("--cameras", "cameras_file", type=click.Path(dir_okay=False),
                              help="Extra cameras (TOML [[camera]] tables or JSON list).")
airspace_option = click.option("--airspace", "airspace_file", type=click.Path(dir_okay=False),
                               help="Airspace restrictions (GeoJSON with ceiling_m). Default: missions/airspace/soissons.geojson.")


class LatLon(click.ParamType):
    """``LAT,LON`` or ``LAT,LON,ALT`` in decimal degrees (and metres). A point outside France that would be in
    France with the two swapped gets the warning swapped zones get (``warn_swapped``; a take-off point of a
    survey is instead checked against its area by :func:`survey_arguments`)."""

    name = "LAT,LON[,ALT]"

    def __init__(self, warn_swapped: bool = True):
        self.warn_swapped = warn_swapped

    def convert(self, value, param, ctx):
        if isinstance(value, tuple):
            return value
        try:
            parts = [float(x) for x in str(value).split(",")]
        except ValueError:
            parts = []
        if len(parts) not in (2, 3) or not (-90 <= parts[0] <= 90 and -180 <= parts[1] <= 180):
            self.fail(f"'{value}' is not LAT,LON[,ALT] in decimal degrees (e.g. 49.3817,3.3236)", param, ctx)
        if self.warn_swapped and ctx is not None and param is not None \
                and ctx.get_parameter_source(param.name) is not click.core.ParameterSource.DEFAULT:
            from dronectl.geo import swapped_point_warning

            warning = swapped_point_warning(parts[0], parts[1], param.opts[0] if param.opts else "point")
            if warning:
                click.echo(f"dronectl: warning: {warning}", err=True)
        return tuple(parts)


LATLON = LatLon()


class Angle(click.ParamType):
    """A bearing in degrees (taken modulo 180), or ``auto``."""

    name = "DEG|auto"

    def convert(self, value, param, ctx):
        if value is None or str(value).lower() == "auto":
            return None
        try:
            return float(value) % 180.0
        except ValueError:
            self.fail(f"'{value}' is not a bearing in degrees or 'auto'", param, ctx)


def _survey_opts(default_camera: str) -> dict:
    """Every option of a survey by name, in the order ``--help`` lists them."""
    return {
        "zone": click.option("--zone", "zone_name", help="Name of a zone in the zone file (see `dronectl zones list`)."),
        "polygon": click.option("--polygon", "polygon_file", type=click.Path(dir_okay=False),
                                help="Survey this polygon instead (GeoJSON or GeoPackage)."),
        "zones": zones_option,
        "exclude": click.option("--exclude", "exclude_files", multiple=True, type=click.Path(dir_okay=False),
                                help="No-fly polygons (GeoJSON or GeoPackage); repeatable. The path never enters them."),
        "camera": click.option("--camera", "camera_id", default=default_camera, show_default=True,
                               help="Camera id (see `dronectl cameras list`)."),
        "cameras": cameras_option,
        "altitude": click.option("--altitude", type=float, help="Height above ground in metres (default 60)."),
        "gsd": click.option("--gsd", type=float, help="Wanted ground sample distance in cm/px (sets the altitude)."),
        "front": click.option("--front-overlap", type=float, default=80.0, show_default=True,
                              help="Front overlap, percent."),
        "side": click.option("--side-overlap", type=float, default=70.0, show_default=True,
                             help="Side overlap, percent."),
        "angle": click.option("--angle", type=Angle(), default="auto", show_default=True,
                              help="Bearing of the flight lines in degrees, or 'auto' for the quickest."),
        "speed": click.option("--speed", type=float, default=5.0, show_default=True, help="Survey speed, m/s."),
        "turnaround": click.option("--turnaround", type=float, default=5.0, show_default=True,
                                   help="Lead-in/lead-out beyond each photo line, metres."),
        "crosshatch": click.option("--crosshatch", is_flag=True, help="Add a second grid at +90 degrees."),
        "portrait": click.option("--portrait", is_flag=True,
                                 help="Camera in portrait orientation (image height across track)."),
        "terrain": click.option("--terrain", "dem", type=click.Path(dir_okay=False),
                                help="DEM GeoTIFF: keep the height above ground."),
        "tolerance": click.option("--terrain-tolerance", type=float, default=3.0, show_default=True,
                                  help="Allowed deviation from the height above ground, metres."),
        "home": click.option("--home", type=LatLon(warn_swapped=False), multiple=True,
                             help="Take-off point LAT,LON[,ALT_AMSL]; repeat it for several (each sortie takes off "
                                  "from the one that keeps it in sight). Default: the zone's centre."),
        "homes": click.option("--homes", "homes_file", type=click.Path(dir_okay=False),
                              help="Take-off points from a file (GeoJSON or GeoPackage points), as several --home."),
        "battery": click.option("--battery-min", type=float, default=25.0, show_default=True,
                                help="Flight time of one battery, minutes."),
        "reserve": click.option("--reserve", type=float, default=25.0, show_default=True,
                                help="Battery reserve, percent."),
        "capacity": click.option("--capacity", type=int, default=650, show_default=True,
                                 help="Autopilot mission capacity in items, home included."),
        "vlos": click.option("--vlos", "vlos_m", type=float, default=500.0, show_default=True,
                             help="Visual line of sight: no waypoint farther from the take-off point, metres."),
        "airspace": airspace_option,
        "no_airspace": click.option("--no-airspace", is_flag=True,
                                    help="Do not apply any airspace file (the 120 m limit still holds)."),
    }


def _decorate(opts):
    def decorate(f):
        for o in reversed(opts):
            f = o(f)
        return f
    return decorate


def survey_options(default_camera: str = "mavic3e"):
    """The options of a survey (``plan survey``, ``sim run``): the area, the camera, the grid, the battery, the
    limits. The command receives them as keyword arguments; :func:`survey_arguments` turns them into
    :func:`dronectl.api.plan_survey`'s."""
    return _decorate(list(_survey_opts(default_camera).values()))


NOT_ALONG_A_LINE = ("zone", "polygon", "angle", "crosshatch")  # survey options a corridor has no use for


def corridor_options():
    """The options of ``plan corridor``: the centre line and width, then the survey's options that make sense
    along a line (not the area, the grid bearing or the crosshatch); :func:`corridor_arguments` maps them."""
    line = [click.option("--line", "line_file", type=click.Path(dir_okay=False),
                         help="The corridor's centre line: a LineString or MultiLineString (GeoJSON or GeoPackage)."),
            click.option("--zone-line", "zone_line", help="Name of a line in the zone file (see `dronectl zones list`)."),
            click.option("--width", "width_m", type=float, required=True,
                         help="Width of the corridor to photograph, metres (centred on the line).")]
    return _decorate(line + [o for k, o in _survey_opts("mavic3e").items() if k not in NOT_ALONG_A_LINE])


def fraction(percent: float | None) -> float | None:
    """A percentage option as the fraction the core takes (the core checks its range)."""
    return None if percent is None else percent / 100.0


def _home_arguments(opts: dict) -> dict:
    """``--home`` once: the take-off point as before; more than once: ``homes``; ``--homes FILE`` passed on."""
    homes = tuple(opts["home"] or ())
    out = {"homes_file": opts["homes_file"]} if opts.get("homes_file") else {}
    if len(homes) == 1:
        h = homes[0]
        return dict(out, home_latlon=(h[0], h[1]), home_alt_m=h[2] if len(h) > 2 else None)
    return dict(out, homes=homes) if homes else out


def _flight_arguments(opts: dict) -> dict:
    return dict(
        exclude=tuple(opts["exclude_files"]), camera=opts["camera_id"], cameras_file=opts["cameras_file"],
        zones_file=opts["zones_file"], airspace_file=False if opts["no_airspace"] else opts["airspace_file"],
        terrain=opts["dem"], altitude_m=opts["altitude"], gsd_cm=opts["gsd"],
        front_overlap=fraction(opts["front_overlap"]), side_overlap=fraction(opts["side_overlap"]),
        speed_mps=opts["speed"], turnaround_m=opts["turnaround"], portrait=opts["portrait"],
        battery_min=opts["battery_min"], reserve=fraction(opts["reserve"]), capacity=opts["capacity"],
        terrain_tolerance_m=opts["terrain_tolerance"], vlos_m=opts["vlos_m"], **_home_arguments(opts))


def check_homes(opts: dict, area, what: str) -> None:
    """Each ``--home`` against the area it serves (lon/lat): one farther than the line of sight (plus the largest
    lead-in) from every point of it is refused up front with the distance and, when swapped it would be near, the
    likely swap (the planner could only say that no photo leg fits)."""
    from dronectl.geo import check_point_reach

    from dronectl.geo import load_points

    vlos = opts.get("vlos_m") or 500.0
    why = f"the {vlos:g} m visual line of sight (--vlos) of any waypoint"
    for h in opts.get("home") or ():
        check_point_reach(h[0], h[1], area, f"--home {h[0]:.8g},{h[1]:.8g}", what, vlos + 100.0, why)
    if opts.get("homes_file"):
        for k, h in enumerate(load_points(opts["homes_file"]), start=1):
            check_point_reach(h[0], h[1], area, f"point {k} of {opts['homes_file']} (lat {h[0]:.8g}, lon {h[1]:.8g})",
                              what, vlos + 100.0, why, order="a GeoJSON point is [longitude, latitude]: check the "
                                                             "file's axis order")


def survey_arguments(opts: dict) -> dict:
    """Keyword arguments of :func:`dronectl.api.plan_survey` from the options (percentages become fractions;
    the core checks every range). Each ``--home`` is checked against the zone first (:func:`check_homes`)."""
    if (opts.get("home") or opts.get("homes_file")) and (opts.get("zone_name") or opts.get("polygon_file")) \
            and not (opts.get("zone_name") and opts.get("polygon_file")):
        from dronectl.geo import find_zone, load_polygon

        if opts.get("zone_name"):
            z = find_zone(opts["zone_name"], opts["zones_file"])
            check_homes(opts, z.geometry, f"zone '{z.name}'")
        else:
            check_homes(opts, load_polygon(opts["polygon_file"]), str(opts["polygon_file"]))
    return dict(zone=opts["zone_name"], polygon=opts["polygon_file"], angle_deg=opts["angle"],
                crosshatch=opts["crosshatch"], **_flight_arguments(opts))


def corridor_arguments(opts: dict) -> dict:
    """Keyword arguments of :func:`dronectl.api.plan_corridor` from the options (each ``--home`` checked against
    the line first)."""
    if (opts.get("home") or opts.get("homes_file")) and bool(opts.get("line_file")) != bool(opts.get("zone_line")):
        from dronectl.geo import find_zone, load_lines

        if opts.get("zone_line"):
            z = find_zone(opts["zone_line"], opts["zones_file"], kind="line")
            check_homes(opts, z.geometry, f"line '{z.name}'")
        else:
            check_homes(opts, load_lines(opts["line_file"]), str(opts["line_file"]))
    return dict(line=opts["line_file"], zone_line=opts["zone_line"], width_m=opts["width_m"],
                **_flight_arguments(opts))


FLIGHT_LIMITS = ("battery", "reserve", "capacity", "vlos", "airspace", "no_airspace")  # every pattern takes them


def ring_flight_options(home_help: str, speed_help: str):
    """The options of the ring patterns (``plan orbit``, ``plan structure``): name, camera, speed, take-off point,
    then the survey's battery, capacity, line-of-sight and airspace options. :func:`ring_flight_arguments` turns
    them into the API's."""
    survey = _survey_opts("mavic3e")
    return _decorate([
        click.option("--name", help="Name of the plan (default: the pattern's or the zone's)."),
        survey["camera"], survey["cameras"],
        click.option("--speed", type=float, default=5.0, show_default=True, help=speed_help),
        click.option("--home", type=LATLON, help=f"Take-off point LAT,LON[,ALT_AMSL]. {home_help}"),
        *(survey[k] for k in FLIGHT_LIMITS)])


def ring_flight_arguments(opts: dict) -> dict:
    """Keyword arguments of :func:`dronectl.api.plan_orbit` / ``plan_structure`` from :func:`ring_flight_options`
    (removed from ``opts``)."""
    home = opts.pop("home")
    return dict(name=opts.pop("name"), camera=opts.pop("camera_id"), cameras_file=opts.pop("cameras_file"),
                airspace_file=False if opts.pop("no_airspace") else opts.pop("airspace_file"),
                speed_mps=opts.pop("speed"), home_latlon=home[:2] if home else None,
                home_alt_m=home[2] if home and len(home) > 2 else None, battery_min=opts.pop("battery_min"),
                reserve=fraction(opts.pop("reserve")), capacity=opts.pop("capacity"), vlos_m=opts.pop("vlos_m"))
