"""Shared pytest set-up: array modes, GPU skipping, golden files."""
import os
from pathlib import Path

import pytest

import gluon_params_kit  # noqa: F401  (numpy shim before mxnet)

# isort: split
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


GOLDEN = Path(__file__).resolve().parent / "golden"


@pytest.fixture
def golden():
    """``golden(name, text)`` asserts ``text`` equals ``tests/golden/<name>.txt``.

    After an intended change of a printed report, ``GPK_REGEN_GOLDEN=1 pytest ...`` rewrites
    the files on purpose; review the diff of ``tests/golden/`` before committing it.
    """
    def check(name: str, text: str) -> None:
        path = GOLDEN / f"{name}.txt"
        if os.environ.get("GPK_REGEN_GOLDEN") == "1":
            path.parent.mkdir(exist_ok=True)
            path.write_text(text if text.endswith("\n") else text + "\n", encoding="utf-8")
        assert path.exists(), f"missing golden {path}; run with GPK_REGEN_GOLDEN=1 to create it"
        assert (text if text.endswith("\n") else text + "\n") == path.read_text(encoding="utf-8")
    return check


def pytest_collection_modifyitems(config, items):
    from gluon_params_kit.devices import gpu_problems, num_gpus

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


def _mxnet_rnn_is_broken() -> str:
    """Why plain MXNet cannot run its own recurrent layers here, or ''.

    MXNet 1.9.1 with ``MXNET_MKLDNN_ENABLED=0`` fails the forward pass of a vanilla ``rnn.RNN``
    and of a multi-layer bidirectional LSTM in its own operator (``rnn-inl.h``: "Check failed:
    in_data.size() == num_inputs"); the oneDNN path (the default) runs them. Probed once.
    """
    import mxnet as mx
    from mxnet.gluon import rnn
    modes = mx.util.is_np_shape(), mx.util.is_np_array()  # the failing test may be in np mode
    npx.reset_np()
    try:
        layer = rnn.RNN(2, input_size=1)
        layer.initialize()
        layer(mx.nd.ones((2, 1, 1))).asnumpy()
    except mx.base.MXNetError as exc:
        return ("MXNet itself cannot run a recurrent layer's forward pass here "
                f"(MXNET_MKLDNN_ENABLED={os.environ.get('MXNET_MKLDNN_ENABLED', '')!r}): "
                + str(exc).strip().splitlines()[-1][:120])
    finally:
        mx.util.set_np(shape=modes[0], array=modes[1])
    return ""


_RNN_BROKEN = None


@pytest.hookimpl(hookwrapper=True)
def pytest_pyfunc_call(pyfuncitem):
    """A test that fails inside MXNet's own RNN operator, where plain MXNet fails the same
    forward pass, is skipped with that reason instead of failing: it says nothing of the kit."""
    global _RNN_BROKEN
    outcome = yield
    exc = outcome.exception
    if exc is not None and "rnn-inl.h" in str(exc):
        if _RNN_BROKEN is None:
            _RNN_BROKEN = _mxnet_rnn_is_broken()
        if _RNN_BROKEN:
            outcome.force_exception(pytest.skip.Exception(_RNN_BROKEN, _use_item_location=True))
