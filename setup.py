"""What pyproject.toml cannot say: the wheel carries the shipped city data of the top-level ``missions/`` folder
(``zones/*.geojson``, ``airspace/*.geojson``; the folder stays where the product card puts it) inside the package
as ``dronectl/data/``, where :func:`dronectl.geo.shipped_data` finds it. ``MANIFEST.in`` puts the same files in
the sdist.

The data is copied at build time rather than mapped with ``package_dir``: a mapping would make
``pip install -e .`` use setuptools' import-hook strategy, with its banner; without one the editable install is
a plain path entry to this checkout, where ``shipped_data`` reads ``missions/`` itself.
"""

from pathlib import Path

from setuptools import find_namespace_packages, setup
from setuptools.command.build_py import build_py

HERE = Path(__file__).resolve().parent
SHIPPED = ("zones", "airspace")  # the subfolders of missions/ that ship


class BuildWithCityData(build_py):
    def run(self):
        super().run()
        for folder in SHIPPED:
            target = Path(self.build_lib, "dronectl", "data", folder)
            self.mkpath(str(target))
            for src in sorted((HERE / "missions" / folder).glob("*.geojson")):
                self.copy_file(str(src), str(target / src.name))


setup(packages=find_namespace_packages(include=["dronectl", "dronectl.*"], exclude=["*.__pycache__"]),
      package_dir={"": "."}, cmdclass={"build_py": BuildWithCityData})
