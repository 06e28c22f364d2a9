"""Helpers shared by the test folders: data files the tests write, and the tiny trained run + exports.

``tests/`` is on ``sys.path`` under pytest (its conftest.py sits in a folder that is not a package), so
test modules import these as ``from kerascnn_testing.data_files import ...``.
"""
