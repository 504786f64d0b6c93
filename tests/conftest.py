"""Shared pytest set-up: array modes, GPU skipping, clean auto names per test."""
import pytest

import gluon_params_kit  # noqa: F401  (numpy shim before mxnet)
from mxnet import npx


@pytest.fixture(params=["nd", "np"])
def mode(request):
    """Run a test once in ``mx.nd`` mode and once after ``npx.set_np()``; yields the mode name."""
    if request.param == "np":
        npx.set_np()
    try:
        yield request.param
    finally:
        npx.reset_np()


@pytest.fixture(autouse=True)
def _reset_np_mode():
    """A test that forgets to reset np mode must not leak it into the next one."""
    yield
    npx.reset_np()


def pytest_collection_modifyitems(config, items):
    from gluon_params_kit.devices import num_gpus, gpu_problems

    # A GPU the installed MXNet has no kernels for (Hopper with the 1.9.1 wheels) counts as none.
    gpus = num_gpus()
    problems = gpu_problems() if gpus > 0 else []
    if gpus > 0 and not problems:
        return
    reason = problems[0] if problems else "no CUDA GPU usable by the installed MXNet"
    skip = pytest.mark.skip(reason=reason)
    for item in items:
        if "gpu" in item.keywords:
            item.add_marker(skip)
