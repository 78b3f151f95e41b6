"""The one thing pyproject.toml cannot say: the top-level ``missions/`` folder (the shipped zones and airspace,
kept where the product card puts it) travels inside the package as ``dronectl/data/``, where
``dronectl.geo.shipped_data`` finds it in an installed wheel. Everything else is in pyproject.toml."""

from setuptools import find_namespace_packages, setup

packages = find_namespace_packages(include=["dronectl", "dronectl.*"], exclude=["*.__pycache__"])
setup(packages=[*packages, "dronectl.data"], package_dir={"dronectl.data": "missions"})
