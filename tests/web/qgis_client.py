"""Run by Debian's Python with python3-qgis (QGIS 3.22), headless: add dronectl's layers as a QGIS user does
and print one JSON line of what QGIS got. Not a test module: tests/web/test_qgis.py runs it as a subprocess.

    python3 qgis_client.py BASE_URL USER TOKEN LAYER_SERVICE LAYER_MISSION W S E N
"""

import json
import os
import sys

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from qgis.core import (QgsApplication, QgsCoordinateReferenceSystem, QgsCoordinateTransform,  # noqa: E402
                       QgsDataSourceUri, QgsMapRendererParallelJob, QgsMapSettings, QgsProject, QgsRasterLayer,
                       QgsRectangle, QgsVectorLayer)
from qgis.PyQt.QtCore import QSize  # noqa: E402
from qgis.PyQt.QtGui import QColor  # noqa: E402


def render(layer, bounds):
    """Opaque pixels of the layer rendered over the lon/lat bounds (256 x 256)."""
    w, s, e, n = bounds
    tr = QgsCoordinateTransform(QgsCoordinateReferenceSystem("EPSG:4326"), QgsCoordinateReferenceSystem("EPSG:3857"),
                                QgsProject.instance())
    settings = QgsMapSettings()
    settings.setLayers([layer])
    settings.setDestinationCrs(QgsCoordinateReferenceSystem("EPSG:3857"))
    settings.setExtent(tr.transformBoundingBox(QgsRectangle(w, s, e, n)))
    settings.setOutputSize(QSize(256, 256))
    settings.setBackgroundColor(QColor(0, 0, 0, 0))
    job = QgsMapRendererParallelJob(settings)
    job.start()
    job.waitForFinished()
    img = job.renderedImage()
    return sum(1 for y in range(0, 256, 4) for x in range(0, 256, 4) if img.pixelColor(x, y).alpha() > 0) * 16


def main():
    base, user, token, service, mission = sys.argv[1:6]
    bounds = tuple(float(v) for v in sys.argv[6:10])
    app = QgsApplication([], False)
    app.initQgis()
    out = {}
    wmts = QgsDataSourceUri()
    for k, v in (("contextualWMSLegend", "0"), ("crs", "EPSG:3857"), ("dpiMode", "7"), ("format", "image/png"),
                 ("layers", f"{service}/{mission}"), ("styles", "default"), ("tileMatrixSet", "GoogleMapsCompatible"),
                 ("url", f"{base}/api/wmts/1.0.0/WMTSCapabilities.xml"), ("username", user), ("password", token)):
        wmts.setParam(k, v)
    layer = QgsRasterLayer(bytes(wmts.encodedUri()).decode(), "wmts", "wms")
    out["wmts_valid"] = layer.isValid()
    out["wmts_pixels"] = render(layer, bounds) if layer.isValid() else 0
    xyz = QgsDataSourceUri()
    for k, v in (("type", "xyz"), ("url", f"{base}/api/tiles/{service}/{mission}/{{z}}/{{x}}/{{y}}.png"),
                 ("zmin", "0"), ("zmax", "22"), ("username", user), ("password", token)):
        xyz.setParam(k, v)
    layer = QgsRasterLayer(bytes(xyz.encodedUri()).decode(), "xyz", "wms")
    out["xyz_valid"] = layer.isValid()
    out["xyz_pixels"] = render(layer, bounds) if layer.isValid() else 0
    oapif = QgsVectorLayer(f"url='{base}/stac' typename='{service}' username='{user}' password='{token}'",
                           "images", "OAPIF")
    out["oapif_valid"] = oapif.isValid()
    out["oapif_features"] = sorted(str(f["id"]) for f in oapif.getFeatures()) if oapif.isValid() else []
    print(json.dumps(out), flush=True)
    os._exit(0)  # QGIS 3.22's teardown (exitQgis with providers alive) can crash after the work is done


if __name__ == "__main__":
    main()
