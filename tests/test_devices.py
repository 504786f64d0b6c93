"""Replicas on [cpu(0), cpu(1)], moving, in-process broadcast, checksums, GPU checks."""
import json
import stat
import warnings

import mxnet as mx
import numpy as onp
import pytest
from fixtures import CPU2, array, book_mlp, initialized, nested_custom, tied_mlp
from mxnet import autograd, gluon
from mxnet.gluon import nn

import gluon_params_kit  # noqa: F401
from gluon_params_kit import devices
from gluon_params_kit._core import stats as kit_stats
from gluon_params_kit._core.kvstore import KEY_BASE, _next_key
from gluon_params_kit.devices import _gpus as _gpus
from gluon_params_kit.devices import (
    available_contexts,
    broadcast,
    checksum,
    gpu_problems,
    move,
    replica_report,
    set_data_everywhere,
    sync_replicas,
    try_all_gpus,
    try_gpu,
)


def _replicas(param):
    return [d.asnumpy() for d in param.list_data()]


def _net(mode, ctx=None):
    """A hybridized net with nested paths (its custom block is nd-only), initialized."""
    if mode == "nd":
        return initialized(nested_custom(), ctx=ctx, mode=mode, hybridize=True)
    return initialized(book_mlp(), x_shape=(2, 5), ctx=ctx, mode=mode, hybridize=True)


def _train_step(net, trainer, mode, ctxs=CPU2):
    x = array((4, 5), mode)
    with autograd.record():
        outs = [net(x.as_in_context(c)) for c in ctxs]
        losses = [(out * out).sum() for out in outs]
    autograd.backward(losses)  # one call: separate backward() calls on replicas fail
    trainer.step(4 * len(ctxs))


# --------------------------------------------------------------------------- contexts

def test_contexts_fall_back_to_cpu_without_gpu():
    if devices.num_gpus() > 0:
        pytest.skip("this machine has a GPU")
    assert try_gpu() == mx.cpu() and try_gpu(3) == mx.cpu()
    assert try_all_gpus() == [mx.cpu()]
    assert available_contexts() == [mx.cpu(0)]


@pytest.mark.gpu
def test_gpu_problems_agree_with_a_real_kernel_launch():
    # On a Hopper GPU with MXNet 1.9.1's wheels both sides say "unusable".
    assert bool(gpu_problems()) == (not devices._gpu_works(0))


@pytest.mark.gpu
def test_contexts_on_a_gpu_machine():
    if gpu_problems():
        pytest.skip(gpu_problems()[0])
    assert try_gpu(0) == mx.gpu(0)
    assert try_all_gpus()[0] == mx.gpu(0)
    assert available_contexts()[0] == mx.gpu(0) and available_contexts()[-1] == mx.cpu(0)
    net = initialized(book_mlp(), x_shape=(2, 20), ctx=[mx.gpu(0), mx.cpu(0)])
    assert replica_report(net).consistent


# --------------------------------------------------------------------------- gpu_problems

@pytest.mark.parametrize("cap,usable", [((8, 6), True), ((8, 9), True), ((7, 0), True),
                                        ((8, 0), True), ((9, 0), False), ((10, 0), False),
                                        ((3, 5), False)])
def test_gpu_problems_decides_by_compute_capability(cap, usable):
    problems = gpu_problems(gpus=[("GPU-A", (6, 1)), ("GPU-B", cap)], cuda_build=True)
    if usable:
        assert problems == []
    else:
        assert len(problems) == 1
        text = problems[0]
        assert text.startswith(f"GPU 1 (GPU-B, compute capability {cap[0]}.{cap[1]})")
        assert "sm_86" in text and "no PTX" in text and "Fix:" in text
        assert f"-DMXNET_CUDA_ARCH={cap[0]}.{cap[1]}" in text


def test_gpu_problems_no_gpu_and_cpu_build():
    assert gpu_problems(gpus=[], cuda_build=False) == []
    (text,) = gpu_problems(gpus=[("NVIDIA H100", (9, 0))], cuda_build=False)
    assert "CPU build" in text and "mxnet-cu112" in text and "NVIDIA H100" in text


def test_gpu_problems_custom_arches():
    assert gpu_problems(gpus=[("H", (9, 0))], cuda_build=True, arches=[(9, 0)]) == []


def _fake_smi(tmp_path, body):
    exe = tmp_path / "nvidia-smi"
    exe.write_text("#!/bin/sh\n" + body)
    exe.chmod(exe.stat().st_mode | stat.S_IEXEC)
    return str(exe)


def test_gpu_problems_probes_nvidia_smi(tmp_path, monkeypatch):
    exe = _fake_smi(tmp_path, "echo 'NVIDIA H100 80GB HBM3, 9.0'\necho 'NVIDIA A100, 8.0'\n")
    monkeypatch.setattr(_gpus.shutil, "which", lambda name: exe)
    assert _gpus._probe_gpus() == [("NVIDIA H100 80GB HBM3", (9, 0)), ("NVIDIA A100", (8, 0))]
    (text,) = gpu_problems(cuda_build=True)
    assert text.startswith("GPU 0 (NVIDIA H100 80GB HBM3, compute capability 9.0)")


def test_gpu_problems_never_raises_on_broken_probes(tmp_path, monkeypatch):
    exe = _fake_smi(tmp_path, "echo 'Field \"compute_cap\" is not a valid field'; exit 2\n")
    monkeypatch.setattr(_gpus.shutil, "which", lambda name: exe)
    monkeypatch.setattr(_gpus, "_gpus_from_libcuda", lambda: [])
    assert gpu_problems() == []
    monkeypatch.setattr(_gpus.shutil, "which", lambda name: None)
    assert _gpus._gpus_from_nvidia_smi() == []


class _FakeCuda:
    """A stand-in for libcuda: ``status`` from cuInit, one device named ``name``, capability."""

    def __init__(self, status=0, name=b"NVIDIA H100", cap=(9, 0)):
        self.status, self.name, self.cap = status, name, cap

    def cuInit(self, flags):
        return self.status

    def cuDeviceGetCount(self, ref):
        ref._obj.value = 1
        return 0

    def cuDeviceGet(self, ref, i):
        ref._obj.value = i
        return 0

    def cuDeviceGetName(self, buf, size, dev):
        buf.value = self.name
        return 0

    def cuDeviceGetAttribute(self, ref, attr, dev):
        ref._obj.value = {75: self.cap[0], 76: self.cap[1]}[attr]
        return 0


def test_gpus_from_libcuda_reads_the_driver(monkeypatch):
    import ctypes
    monkeypatch.setattr(ctypes, "CDLL", lambda name: _FakeCuda())
    assert _gpus._gpus_from_libcuda() == [("NVIDIA H100", (9, 0))]
    monkeypatch.setattr(ctypes, "CDLL", lambda name: _FakeCuda(status=100))  # no device
    assert _gpus._gpus_from_libcuda() == []

    def missing(name):
        raise OSError(f"{name}: cannot open shared object file")
    monkeypatch.setattr(ctypes, "CDLL", missing)
    assert _gpus._gpus_from_libcuda() == []


def test_gpu_problems_falls_back_to_libcuda(monkeypatch):
    monkeypatch.setattr(_gpus.shutil, "which", lambda name: None)
    monkeypatch.setattr(_gpus, "_gpus_from_libcuda", lambda: [("NVIDIA H100", (9, 0))])
    (text,) = gpu_problems(cuda_build=True)
    assert text.startswith("GPU 0 (NVIDIA H100, compute capability 9.0) cannot run")


def test_try_all_gpus_keeps_only_working_gpus(monkeypatch):
    monkeypatch.setattr(devices, "num_gpus", lambda: 3)
    monkeypatch.setattr(devices, "_gpu_works", lambda i: i != 1)
    assert try_all_gpus() == [mx.gpu(0), mx.gpu(2)]
    assert available_contexts() == [mx.gpu(0), mx.gpu(2), mx.cpu(0)]
    assert try_gpu(1) == mx.cpu() and try_gpu(2) == mx.gpu(2) and try_gpu(3) == mx.cpu()
    monkeypatch.setattr(devices, "_gpu_works", lambda i: False)
    assert try_all_gpus() == [mx.cpu()]


# --------------------------------------------------------------------------- replicas

def test_replicas_consistent_after_init(mode):
    net = initialized(book_mlp(), x_shape=(2, 20), ctx=CPU2, mode=mode)
    report = replica_report(net)
    assert list(report) == ["0.weight", "0.bias", "1.weight", "1.bias"]
    assert report.consistent and report.out_of_sync == []
    row = report["0.weight"]
    assert row.contexts == ("cpu(0)", "cpu(1)") and row.max_abs_diff == 0.0
    assert row.status == "consistent"
    assert str(report).splitlines()[-1] == ("The replicas are consistent: all 4 replicated "
                                            "parameters are identical on cpu(0), cpu(1).")


@pytest.mark.parametrize("kvstore", ["device", "local"])
def test_replicas_consistent_after_trainer_step(mode, kvstore):
    net = _net(mode, ctx=CPU2)
    before = {k: _replicas(p)[0] for k, p in net.collect_params().items()}
    trainer = gluon.Trainer(net.collect_params(), "sgd", {"learning_rate": 0.5}, kvstore=kvstore)
    _train_step(net, trainer, mode)
    report = replica_report(net)
    assert report.consistent, str(report)
    assert ("1.scale" in report and "1.features.0.weight" in report) if mode == "nd" else True
    changed = [k for k, p in net.collect_params().items()
               if not onp.array_equal(_replicas(p)[0], before[k])]
    assert changed  # the step really updated something, identically on both replicas


def test_one_replica_edit_detected_then_fixed(mode):
    net = initialized(book_mlp(), x_shape=(2, 20), ctx=CPU2, mode=mode)
    net[0].weight.data()[:] += 1  # the book's cell: edits cpu(0)'s replica only
    report = replica_report(net)
    assert report.out_of_sync == ["0.weight"] and not report.consistent
    assert report["0.weight"].status == "OUT OF SYNC"
    assert report["0.weight"].max_abs_diff == pytest.approx(1.0)
    assert report["1.weight"].status == "consistent"
    text = str(report)
    assert "1 of 4 replicated parameters are OUT OF SYNC: '0.weight' (max |diff| 1)" in text
    assert "sync_replicas" in text
    edited = _replicas(net[0].weight)[0]
    assert sync_replicas(net) == ["0.weight", "0.bias", "1.weight", "1.bias"]
    assert replica_report(net).consistent
    for r in _replicas(net[0].weight):
        onp.testing.assert_array_equal(r, edited)


def test_sync_replicas_from_chosen_source(mode):
    net = initialized(book_mlp(), x_shape=(2, 20), ctx=CPU2, mode=mode)
    original = _replicas(net[0].weight)[1]
    net[0].weight.data(mx.cpu(0))[:] = 5
    sync_replicas(net, source=mx.cpu(1))
    for r in _replicas(net[0].weight):
        onp.testing.assert_array_equal(r, original)


@pytest.mark.parametrize("kvstore", ["local", "device", "store object"])
def test_edits_survive_the_next_step_when_updates_happen_on_the_kvstore(mode, kvstore):
    # Gluon's own set_data crashes the next step ("duplicate init of key 0") when the
    # Trainer was given a KVStore object; the kit writes the store's copy instead.
    net = initialized(book_mlp(), x_shape=(2, 5), ctx=CPU2, mode=mode)
    kv = mx.kv.create("local") if kvstore == "store object" else kvstore
    trainer = gluon.Trainer(net.collect_params(), "sgd",
                            {"learning_rate": 0.0, "momentum": 0.9}, kvstore=kv)
    _train_step(net, trainer, mode)
    assert trainer._update_on_kvstore
    net[0].bias.data(mx.cpu(1))[:] = 3
    sync_replicas(net, source=mx.cpu(1))
    set_data_everywhere(net, "1.bias", 5.0)
    _train_step(net, trainer, mode)  # lr 0: the kvstore's copy must now be the new value
    assert replica_report(net).consistent
    assert set(onp.unique(_replicas(net[0].bias)[1]).tolist()) == {3.0}
    assert set(onp.unique(_replicas(net[1].bias)[0]).tolist()) == {5.0}


def test_replica_report_atol_and_deferred(mode):
    net = book_mlp()
    net.initialize(ctx=CPU2)
    report = replica_report(net)
    assert [r.status for r in report.values()] == ["deferred", "consistent"] * 2
    assert report.consistent and "all 2 replicated parameters are identical" in str(report)
    net = initialized(book_mlp(), x_shape=(2, 20), ctx=CPU2, mode=mode)
    net[1].bias.data(mx.cpu(1))[:] += 1e-3
    assert replica_report(net).out_of_sync == ["1.bias"]
    assert replica_report(net, atol=1e-2).consistent


def test_replica_report_nan_in_every_replica_is_in_sync(mode):
    net = initialized(book_mlp(), x_shape=(2, 20), ctx=CPU2, mode=mode)
    for replica in net[1].bias.list_data():
        replica[0] = float("nan")  # diverged, identically on both contexts
    report = replica_report(net)
    assert report.consistent and report["1.bias"].max_abs_diff == 0.0
    net[1].bias.data(mx.cpu(1))[1] += 2
    assert replica_report(net)["1.bias"].max_abs_diff == pytest.approx(2.0)
    net[1].bias.data(mx.cpu(1))[0] = 1.0  # NaN against a number: out of sync, diff unknown
    row = replica_report(net)["1.bias"]
    assert row.status == "OUT OF SYNC" and onp.isnan(row.max_abs_diff)


def test_replica_report_single_context_and_tied():
    net = initialized(tied_mlp(), x_shape=(2, 20))
    report = replica_report(net)
    assert list(report) == ["0.weight", "0.bias", "1.weight", "1.bias", "3.weight", "3.bias"]
    assert {r.status for r in report.values()} == {"single replica"}
    assert report.consistent and str(report).endswith(
        "No parameter has more than one replica: nothing to compare.")


def test_set_data_everywhere(mode):
    net = initialized(book_mlp(), x_shape=(2, 20), ctx=CPU2, mode=mode)
    old = _replicas(net[0].weight)[0]
    p = set_data_everywhere(net, "[0].weight", lambda w: w + 1)  # the book's cell 13, safely
    assert p is net[0].weight
    for r in _replicas(net[0].weight):
        onp.testing.assert_allclose(r, old + 1)
    set_data_everywhere(net, "1.bias", 0.25)
    assert all(set(r.tolist()) == {0.25} for r in _replicas(net[1].bias))
    set_data_everywhere(net, "1.bias", onp.arange(10, dtype="float32"))
    assert all(r.tolist() == list(range(10)) for r in _replicas(net[1].bias))
    set_data_everywhere(net, "1.bias", mx.nd.ones((10,)))
    assert all(r.tolist() == [1.0] * 10 for r in _replicas(net[1].bias))
    assert replica_report(net).consistent


# --------------------------------------------------------------------------- move

def test_move_one_to_two_contexts_exact_values_and_forward(mode):
    net = _net(mode)
    before = {k: _replicas(p)[0] for k, p in net.collect_params().items()}
    report = move(net, CPU2)
    assert set(s for _, _, s in report.values()) == {"moved"}
    assert report["0.weight"] == (("cpu(0)",), ("cpu(0)", "cpu(1)"), "moved")
    assert str(report).splitlines()[-1] == f"{len(before)} moved."
    for k, p in net.collect_params().items():
        for r in _replicas(p):
            onp.testing.assert_array_equal(r, before[k])
    out = net(array((2, 5), mode).as_in_context(mx.cpu(1)))
    assert out.context == mx.cpu(1) and out.shape == ((2, 3) if mode == "nd" else (2, 10))


def test_move_keeps_gradient_one_to_one_and_reports_already_there(mode):
    net = initialized(book_mlp(), x_shape=(2, 20), mode=mode)
    x = array((2, 20), mode)
    with autograd.record():
        y = net(x).sum()
    y.backward()
    grad = net[0].weight.grad().asnumpy()
    assert onp.abs(grad).sum() > 0
    move(net, mx.cpu(1))
    assert net[0].weight.list_ctx() == [mx.cpu(1)]
    onp.testing.assert_array_equal(net[0].weight.grad(mx.cpu(1)).asnumpy(), grad)
    report = move(net, [mx.cpu(1)])
    assert {s for _, _, s in report.values()} == {"already there"}


def test_move_deferred_parameters_are_created_on_new_context(mode):
    net = book_mlp()
    net.initialize()
    report = move(net, CPU2)
    states = [s.split(" (")[0] for _, _, s in report.values()]
    assert states == ["deferred", "moved"] * 2
    net(array((2, 20), mode))
    assert net[0].weight.list_ctx() == CPU2
    assert replica_report(net).consistent


def test_move_warns_about_a_trainer_made_for_other_contexts(mode):
    net = initialized(book_mlp(), x_shape=(2, 5), mode=mode)
    trainer = gluon.Trainer(net.collect_params(), "sgd", {"learning_rate": 0.5})
    with pytest.warns(UserWarning, match=r"'0.weight', .* belong to a gluon.Trainer made for "
                                         r"fewer contexts.*create the Trainer after move\(\)"):
        move(net, CPU2)
    _train_step(net, trainer, mode)  # what the warning is about: one replica updated
    assert not replica_report(net).consistent
    trainer = gluon.Trainer(net.collect_params(), "sgd", {"learning_rate": 0.5})
    sync_replicas(net)
    _train_step(net, trainer, mode)  # a Trainer made after the move keeps them together
    assert replica_report(net).consistent
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # as many contexts elsewhere: that Trainer still works
        move(net, [mx.cpu(1), mx.cpu(2)])
    _train_step(net, trainer, mode, ctxs=[mx.cpu(1), mx.cpu(2)])
    assert replica_report(net).consistent


def test_set_data_everywhere_scalars_replace_nan(mode):
    net = initialized(book_mlp(), x_shape=(2, 20), ctx=CPU2, mode=mode)
    for replica in net[1].bias.list_data():
        replica[:] = float("nan")  # a diverged parameter, reset to a constant
    set_data_everywhere(net, "1.bias", 0.5)
    assert all(r.tolist() == [0.5] * 10 for r in _replicas(net[1].bias))
    set_data_everywhere(net, "1.bias", onp.float32(2))
    assert all(r.tolist() == [2.0] * 10 for r in _replicas(net[1].bias))


def test_move_takes_first_replica_not_the_average():
    net = initialized(book_mlp(), x_shape=(2, 20), ctx=CPU2)
    net[1].bias.data(mx.cpu(1))[:] = 10
    first = _replicas(net[1].bias)[0]
    move(net, mx.cpu(0))
    onp.testing.assert_array_equal(net[1].bias.data().asnumpy(), first)


# --------------------------------------------------------------------------- broadcast & checksum

@pytest.mark.parametrize("kind", ["local", "device"])
def test_broadcast_in_process_then_trainer_on_same_store(mode, kind):
    net = initialized(book_mlp(), x_shape=(2, 5), ctx=CPU2, mode=mode)
    net[0].weight.data(mx.cpu(1))[:] = 7
    first = _replicas(net[0].weight)[0]
    kv = mx.kv.create(kind)
    assert broadcast(net, kv) == ["0.weight", "0.bias", "1.weight", "1.bias"]
    for r in _replicas(net[0].weight):
        onp.testing.assert_array_equal(r, first)
    assert _next_key[kv] == KEY_BASE + 4
    assert broadcast(net, kv) == list(checksum(net))  # again: fresh keys, no duplicate init
    assert _next_key[kv] == KEY_BASE + 8
    trainer = gluon.Trainer(net.collect_params(), "sgd", {"learning_rate": 0.1}, kvstore=kv)
    _train_step(net, trainer, mode)  # the Trainer's keys 0..3 do not collide with ours
    assert replica_report(net).consistent
    assert not onp.array_equal(_replicas(net[0].weight)[0], first)


def test_broadcast_by_name_and_hybridized(mode):
    net = _net(mode, ctx=CPU2)
    net[0].bias.data(mx.cpu(1))[:] = 3
    assert replica_report(net).out_of_sync == ["0.bias"]
    broadcast(net, "device")
    assert replica_report(net).consistent


def test_checksum_compares_workers(mode):
    a = initialized(book_mlp(), x_shape=(2, 20), mode=mode)
    b = book_mlp()
    b.initialize()
    b(array((2, 20), mode))
    for (_, pa), (_, pb) in zip(a.collect_params().items(), b.collect_params().items()):
        pb.set_data(pa.data())
    ca, cb = checksum(a), checksum(b)
    assert ca == cb and ca.digest == cb.digest and ca.differences(cb) == []
    assert list(ca) == ["0.weight", "0.bias", "1.weight", "1.bias"]
    assert all(len(d) == 16 for d in ca.values())
    assert json.loads(json.dumps(dict(ca))) == dict(ca)
    b[1].bias.data()[:] += 1e-7
    cb = checksum(b)
    assert ca.differences(cb) == ["1.bias"] and ca != cb and ca.digest != cb.digest
    assert ca.differences({"0.weight": ca["0.weight"]}) == ["0.bias", "1.weight", "1.bias"]


def test_checksum_sees_shape_and_dtype():
    a = nn.Dense(2, in_units=2, use_bias=False)
    a.initialize(mx.init.Zero())
    b = nn.Dense(4, in_units=1, use_bias=False)
    b.initialize(mx.init.Zero())
    assert checksum(a)["weight"] != checksum(b)["weight"]
    c = nn.Dense(2, in_units=2, use_bias=False, dtype="float64")
    c.initialize(mx.init.Zero())
    assert checksum(a)["weight"] != checksum(c)["weight"]


# --------------------------------------------------------------------------- big replicas

def _wide(dtype="float32"):
    """A Dense layer whose weight (300 x 300) spans two of max_abs_diff's chunks."""
    net = nn.Dense(300, in_units=300, dtype=dtype)
    net.initialize(mx.init.Normal(1.0), ctx=CPU2)
    return net


@pytest.mark.parametrize("dtype", ["float16", "float32", "float64"])
def test_replica_report_sees_a_difference_in_the_last_chunk(dtype):
    net = _wide(dtype)
    assert net.weight.data().size > kit_stats._CHUNK
    assert replica_report(net)["weight"].max_abs_diff == 0.0
    net.weight.data(mx.cpu(1))[299, 299] += 0.5
    row = replica_report(net)["weight"]
    assert row.status == "OUT OF SYNC" and row.max_abs_diff == pytest.approx(0.5, rel=1e-2)
    assert replica_report(net).out_of_sync == ["weight"]


def test_max_abs_diff_values_and_the_cases_it_leaves_to_mxnet():
    nan, inf = float("nan"), float("inf")
    a = mx.nd.array([1, inf, nan, -inf, 0])
    assert kit_stats.max_abs_diff(a, a.copy()) == 0.0  # equal infinities and NaNs
    assert kit_stats.max_abs_diff(a, mx.nd.array([1, inf, nan, -inf, -3])) == 3.0
    assert onp.isnan(kit_stats.max_abs_diff(a, mx.nd.array([1, inf, 2, -inf, 0])))
    assert kit_stats.max_abs_diff(a, mx.nd.array([1, 5, nan, -inf, 0])) == inf
    ints = mx.nd.array([1, 2], dtype="int32")
    assert kit_stats.max_abs_diff(ints, ints) is None  # integers: MXNet ops compare
    assert kit_stats.max_abs_diff(a, a.astype("float64")) is None


def test_replica_report_of_integer_replicas_uses_mxnet_ops():
    block = nn.Block()
    with block.name_scope():
        block.steps = block.params.get("steps", shape=(4,), dtype="int32", init="zeros",
                                       grad_req="null")
    block.initialize(ctx=CPU2)
    block.steps.data(mx.cpu(1))[2] = 7
    row = replica_report(block)["steps"]
    assert row.status == "OUT OF SYNC" and row.max_abs_diff == 7.0


def test_sync_replicas_copies_a_big_replica_and_leaves_the_source_alone():
    net = _wide()
    source = net.weight.data(mx.cpu(1))
    source[0, 0] = 42.0
    expected = source.asnumpy()
    assert sync_replicas(net, source=mx.cpu(1)) == ["weight", "bias"]
    assert net.weight.data(mx.cpu(1)) is source
    for r in _replicas(net.weight):
        onp.testing.assert_array_equal(r, expected)
    assert replica_report(net).consistent
