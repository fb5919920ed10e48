"""Tiny data files we make ourselves, shipped with the package (see data/)."""
