"""Shared test setup: make tests/ importable (``from ulp import ...``) under
``--import-mode=importlib``, and a fixture that restores the active kernel path."""
import pathlib
import sys

import pytest

_TESTS_DIR = str(pathlib.Path(__file__).resolve().parent)
if _TESTS_DIR not in sys.path:
    sys.path.insert(0, _TESTS_DIR)


@pytest.fixture
def restore_isa():
    """Yield the active ISA name; whatever a test switches to, put the original back."""
    from fastsoftmax import _core

    original = _core.active_isa()
    try:
        yield original
    finally:
        _core.set_isa(original)
