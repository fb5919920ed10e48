"""Shared test settings: the smoke profile by default, a headless matplotlib, the repository root."""

import os
from pathlib import Path

import pytest

os.environ.setdefault("MPLBACKEND", "Agg")
# The test suite runs every notebook; without a profile chosen, run them at toy size.
# Set COURSE_PROFILE=cpu (or gpu) to run the notebooks at full size instead.
os.environ.setdefault("COURSE_PROFILE", "smoke")

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def root() -> Path:
    return ROOT
