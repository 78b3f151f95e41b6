"""Camera models, ground-sample-distance and footprint formulas, and the built-in camera database.

Pinhole model at nadir over flat ground: a sensor ``w`` mm wide behind a lens of focal length ``f`` mm
sees a ground strip ``w * H / f`` metres wide from ``H`` metres above ground; one pixel covers
``w * H / (f * W_px)`` metres (the GSD). In *landscape* orientation (the default) the image width lies
across the flight line, so it sets the line spacing; the image height lies along it and sets the
trigger distance.
"""

from __future__ import annotations

import json
import tomllib
from dataclasses import asdict, dataclass, fields
from pathlib import Path

from dronectl.errors import InputError
from dronectl.limits import check_range

SENSOR_MM = (1.0, 100.0, "mm")
FOCAL_MM = (1.0, 2000.0, "mm")
IMAGE_PX = (100, 100000, "px")
TRIGGER_INTERVAL_S = (0.1, 60.0, "s")  # the fastest cameras take 10 photos a second


@dataclass(frozen=True)
class Camera:
    id: str
    name: str
    sensor_width_mm: float
    sensor_height_mm: float
    focal_length_mm: float
    image_width_px: int
    image_height_px: int
    min_trigger_interval_s: float = 1.0
    source: str = ""
    exif_make: str = ""  # EXIF Make / Model as the camera writes them, to recognise its photos
    exif_models: tuple[str, ...] = ()

    def __post_init__(self):
        """Finite figures in the range of real cameras (one line naming the field if not)."""
        for f, limits, integer in (("sensor_width_mm", SENSOR_MM, False), ("sensor_height_mm", SENSOR_MM, False),
                                   ("focal_length_mm", FOCAL_MM, False), ("image_width_px", IMAGE_PX, True),
                                   ("image_height_px", IMAGE_PX, True),
                                   ("min_trigger_interval_s", TRIGGER_INTERVAL_S, False)):
            check_range(f"camera '{self.id}': {f}", getattr(self, f), limits, integer=integer)

    # --- formulas -------------------------------------------------------------------------
    def gsd_cm(self, altitude_m: float) -> float:
        """Ground sample distance (cm/pixel) at nadir; the coarser of the two axes."""
        gx = self.sensor_width_mm * altitude_m / (self.focal_length_mm * self.image_width_px)
        gy = self.sensor_height_mm * altitude_m / (self.focal_length_mm * self.image_height_px)
        return max(gx, gy) * 100.0

    def altitude_for_gsd(self, gsd_cm: float) -> float:
        """Height above ground (m) giving ``gsd_cm`` (the inverse of :meth:`gsd_cm`)."""
        per_m = self.gsd_cm(1.0)
        return gsd_cm / per_m

    def footprint_m(self, altitude_m: float, portrait: bool = False) -> tuple[float, float]:
        """(across-track, along-track) ground footprint in metres at nadir."""
        w = self.sensor_width_mm * altitude_m / self.focal_length_mm
        h = self.sensor_height_mm * altitude_m / self.focal_length_mm
        return (h, w) if portrait else (w, h)

    def to_dict(self) -> dict:
        d = asdict(self)
        d["exif_models"] = list(self.exif_models)
        return d


@dataclass(frozen=True)
class GridGeometry:
    """The numbers a survey grid is built from, for one camera, height and overlaps."""

    altitude_m: float
    gsd_cm: float
    footprint_side_m: float
    footprint_front_m: float
    line_spacing_m: float
    trigger_distance_m: float


def grid_geometry(camera: Camera, altitude_m: float, front_overlap: float, side_overlap: float,
                  portrait: bool = False) -> GridGeometry:
    """Line spacing = side footprint x (1 - side overlap); trigger distance = front footprint x (1 - front).

    Overlaps are fractions in [0, 1).
    """
    for label, v in (("front overlap", front_overlap), ("side overlap", side_overlap)):
        if not 0 <= v < 1:
            raise InputError(f"{label} must be at least 0 % and below 100 %, got {v * 100:g} %")
    if altitude_m <= 0:
        raise InputError(f"altitude must be above 0 m, got {altitude_m:g} m")
    side, front = camera.footprint_m(altitude_m, portrait)
    return GridGeometry(altitude_m, camera.gsd_cm(altitude_m), side, front,
                        side * (1 - side_overlap), front * (1 - front_overlap))


# Built-in database. Figures from manufacturers' published specifications; focal lengths are the
# real (not 35 mm-equivalent) values, derived from the equivalent focal length and sensor size where
# the maker only publishes the former.
BUILTIN_CAMERAS: tuple[Camera, ...] = (
    Camera("mavic3e", "DJI Mavic 3 Enterprise (wide, 4/3 CMOS)", 17.3, 13.0, 12.29, 5280, 3956, 0.7,
           "DJI Mavic 3E specs: 4/3 CMOS 20 MP, 24 mm equiv. (12.29 mm), 5280x3956", "DJI", ("M3E",)),
    Camera("p4rtk", "DJI Phantom 4 RTK (1\" CMOS)", 13.2, 8.8, 8.8, 5472, 3648, 2.0,
           "DJI Phantom 4 RTK specs: 1\" CMOS 20 MP, 8.8 mm (24 mm equiv.), 5472x3648", "DJI", ("FC6310R", "FC6310S")),
    Camera("m30w", "DJI Matrice 30 wide camera (1/2\" CMOS)", 6.4, 4.8, 4.5, 4000, 3000, 0.7,
           "DJI M30 specs: wide 1/2\" CMOS 12 MP, 24 mm equiv. (4.5 mm), 4000x3000", "DJI", ("M30", "M30T")),
    Camera("p1-35", "DJI Zenmuse P1 with DL 35 mm lens (full frame)", 35.9, 24.0, 35.0, 8192, 5460, 0.7,
           "DJI Zenmuse P1 specs: 35.9x24 mm 45 MP, 8192x5460, DL 35 mm F2.8 LS ASPH", "DJI", ("ZenmuseP1",)),
    Camera("anafi-ai", "Parrot Anafi Ai (1/2\" 48 MP)", 6.4, 4.8, 4.74, 8000, 6000, 1.0,
           "Parrot Anafi Ai specs: 1/2\" CMOS 48 MP, 8000x6000, HFOV 68 deg (4.74 mm)", "Parrot", ("ANAFI Ai",)),
    Camera("evo2pro", "Autel EVO II Pro (1\" CMOS 6K)", 13.2, 8.8, 10.57, 5472, 3648, 1.0,
           "Autel EVO II Pro specs: 1\" CMOS 20 MP, 5472x3648, 29 mm equiv. (10.57 mm)", "Autel Robotics", ("XT705",)),
    Camera("sim", "dronectl simulated camera (synthetic images)", 6.4, 4.8, 4.5, 1600, 1200, 0.5,
           "dronectl built-in: the synthetic camera of `dronectl sim` (1/2\" sensor geometry, 2 MP)", "dronectl", ("SimCam",)),
)

DEFAULT_CAMERA = "mavic3e"


def load_user_cameras(path: Path | str) -> list[Camera]:
    """Cameras from a TOML (``[[camera]]`` tables) or JSON (a list, or ``{"cameras": [...]}``) file."""
    path = Path(path)
    if not path.exists():
        raise InputError(f"camera file not found: {path}")
    try:
        if path.suffix.lower() == ".toml":
            data = tomllib.loads(path.read_text(encoding="utf-8")).get("camera", [])
        else:
            data = json.loads(path.read_text(encoding="utf-8"))
            if isinstance(data, dict):
                data = data.get("cameras", [])
    except (tomllib.TOMLDecodeError, json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise InputError(f"camera file {path} cannot be parsed: {exc}") from None
    known = {f.name for f in fields(Camera)}
    out = []
    for i, entry in enumerate(data, start=1):
        if not isinstance(entry, dict) or "id" not in entry:
            raise InputError(f"camera {i} in {path} needs at least an 'id' and the sensor/lens figures")
        unknown = set(entry) - known
        if unknown:
            raise InputError(f"camera '{entry['id']}' in {path} has unknown fields: {', '.join(sorted(unknown))}")
        missing = {"sensor_width_mm", "sensor_height_mm", "focal_length_mm", "image_width_px", "image_height_px"} - set(entry)
        if missing:
            raise InputError(f"camera '{entry['id']}' in {path} lacks: {', '.join(sorted(missing))}")
        entry = dict(entry)
        entry.setdefault("name", entry["id"])
        entry["exif_models"] = tuple(entry.get("exif_models", ()))
        try:
            out.append(Camera(**entry))
        except InputError as exc:
            raise InputError(f"{path}: {exc}") from None
    return out


def all_cameras(user_file: Path | str | None = None) -> list[Camera]:
    cams = {c.id: c for c in BUILTIN_CAMERAS}
    if user_file:
        for c in load_user_cameras(user_file):
            cams[c.id] = c
    return list(cams.values())


def find_camera(camera_id: str, user_file: Path | str | None = None) -> Camera:
    cams = all_cameras(user_file)
    for c in cams:
        if c.id.lower() == camera_id.lower():
            return c
    raise InputError(f"unknown camera '{camera_id}'; known cameras: {', '.join(c.id for c in cams)}"
                     " (add yours with --cameras FILE)")


def camera_for_exif(make: str | None, model: str | None, user_file: Path | str | None = None) -> Camera | None:
    """The database camera whose EXIF Make/Model match a photo's, if any."""
    if not model:
        return None
    m = model.strip().lower()
    for c in all_cameras(user_file):
        if any(m == x.lower() for x in c.exif_models):
            if not make or not c.exif_make or make.strip().lower().startswith(c.exif_make.lower()[:3]):
                return c
    return None
