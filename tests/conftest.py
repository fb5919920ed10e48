"""Shared test settings: the smoke profile by default, and the repository root.

MPLBACKEND is deliberately left alone: notebook kernels then use Jupyter's inline
backend, so every figure is really rendered, as on a learner's screen.
"""

import os
from pathlib import Path

import pytest

# The test suite runs every notebook; without a profile chosen, run them at toy size.
# Set COURSE_PROFILE=cpu (or gpu) to run the notebooks at full size instead.
os.environ.setdefault("COURSE_PROFILE", "smoke")

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def root() -> Path:
    return ROOT


@pytest.fixture(autouse=True)
def fresh_hints():
    """Each test sees a check's first hint: hints escalate with repeated failures in one process."""
    from course_lib import checks

    checks._FAILURES.clear()
