"""A pytest plugin (``-p reliability.np_mode_plugin``) that runs every test after ``npx.set_np()``.

Used by ``test_np_mode.py`` to replay the bad-input suite in np mode in its own process.
"""
import pytest

import gluon_params_kit  # noqa: F401  (numpy aliases first: plugins load before conftest.py)

# isort: split
from mxnet import npx


@pytest.fixture(autouse=True)
def _np_mode_everywhere():
    npx.set_np()
    yield
    npx.reset_np()
