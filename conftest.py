"""Root conftest: deliberately empty of fixtures.

mxdrill's plugin (options, markers, fixtures) is registered through the `pytest11` entry point in
pyproject.toml, so the same plugin serves this repository and any user directory with a hosts.yml.
This file only anchors pytest's rootdir at the repository root.
"""
