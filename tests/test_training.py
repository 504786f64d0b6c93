"""Resuming training: gpk.load with a live Trainer, training checkpoints, stale provenance."""
import gluon_params_kit  # noqa: F401  (numpy shim before mxnet)

# isort: split
import os
import pickle
import subprocess
import sys
from pathlib import Path

import mxnet as mx
import numpy as np
import pytest
from mxnet import autograd, gluon
from mxnet.gluon import nn

import gluon_params_kit as gpk
from gluon_params_kit.errors import CheckpointError, CheckpointTypeError

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
import training_worker as worker  # noqa: E402

TWO = [mx.cpu(0), mx.cpu(1)]


def _net(ctx, seed=0):
    mx.random.seed(seed)
    net = nn.HybridSequential()
    net.add(nn.Dense(6, activation="relu", in_units=5), nn.Dense(3, in_units=6))
    net.initialize(mx.init.Normal(1.0), ctx=ctx)
    return net


def _step(net, trainer, ctx, i):
    worker.step(net, trainer, ctx, i)


def _values(net):
    return {k: [d.asnumpy() for d in p.list_data()] for k, p in gpk.named_parameters(net).items()}


def _bits(net):
    return {k: [a.tobytes() for a in v] for k, v in _values(net).items()}


def _store_values(trainer):
    """What the Trainer's kvstore holds for each of its parameters."""
    out = {}
    for i, p in enumerate(trainer._params):
        tmp = mx.nd.zeros(p.shape, dtype=p.dtype)
        trainer._kvstore.pull(i, out=tmp)
        out[p.name] = tmp.asnumpy()
    return out


# --------------------------------------------------------------------------- live Trainer

KVSTORES = [("local", TWO), ("device", TWO), ("local-object", [mx.cpu()]),
            ("device-object", TWO)]


@pytest.mark.parametrize("kind, ctx", KVSTORES, ids=[k for k, _ in KVSTORES])
def test_load_into_a_live_trainer(kind, ctx, tmp_path):
    """The next step runs, every replica and the store hold the loaded values, and the
    optimizer's momentum is kept (loading the current values changes nothing at all)."""
    target = _net(ctx, seed=1)
    gpk.save(target, tmp_path / "target.params")
    loaded = _values(target)

    def run(load_at):
        net = _net(ctx)
        kv = mx.kv.create(kind.split("-")[0]) if kind.endswith("object") else kind
        trainer = gluon.Trainer(net.collect_params(), "sgd",
                                {"learning_rate": 0.1, "momentum": 0.9}, kvstore=kv)
        for i in range(4):
            if i == load_at:
                gpk.save(net, tmp_path / "same.params")
                gpk.load(net, tmp_path / "same.params")
            _step(net, trainer, ctx, i)
        return net, trainer

    plain, _ = run(None)
    reloaded, trainer = run(2)
    assert _bits(reloaded) == _bits(plain)  # momentum and store survived the load
    assert trainer._kvstore is not None and trainer._update_on_kvstore

    report = gpk.load(reloaded, tmp_path / "target.params")
    assert report.applied and report.loaded == list(loaded)
    for path, arrays in _values(reloaded).items():
        for a in arrays:  # every replica
            np.testing.assert_array_equal(a, loaded[path][0])
    by_name = {p.name: path for path, p in gpk.named_parameters(reloaded).items()}
    for name, value in _store_values(trainer).items():  # the store's copy too
        np.testing.assert_array_equal(value, loaded[by_name[name]][0])
    before = _bits(reloaded)
    _step(reloaded, trainer, ctx, 5)  # the next step runs and trains
    after = _bits(reloaded)
    assert all(after[k] != before[k] for k in after)
    assert all(len(set(v)) == 1 for v in after.values())  # replicas still equal


def test_gluon_load_parameters_breaks_a_passed_in_store(tmp_path):
    """The failure the kit's load avoids: Gluon's set_data re-inits the user's store."""
    net = _net([mx.cpu()])
    trainer = gluon.Trainer(net.collect_params(), "sgd", kvstore=mx.kv.create("local"))
    _step(net, trainer, [mx.cpu()], 0)
    net.save_parameters(str(tmp_path / "a.params"))
    net.load_parameters(str(tmp_path / "a.params"))
    with pytest.raises(mx.base.MXNetError, match="duplicate init"):
        _step(net, trainer, [mx.cpu()], 1)


def test_live_trainer_refuses_a_dtype_change_and_changes_nothing(tmp_path):
    net = _net(TWO)
    trainer = gluon.Trainer(net.collect_params(), "sgd", kvstore="device")
    _step(net, trainer, TWO, 0)
    mx.nd.save(str(tmp_path / "half.params"),
               {k: p.data().astype("float16") for k, p in gpk.named_parameters(net).items()})
    before = _bits(net)
    with pytest.raises(CheckpointError, match=r"float32 in its Trainer's kvstore but float16.*"
                                              r"dtype='cast'.*Nothing was changed"):
        gpk.load(net, tmp_path / "half.params", dtype="saved")
    assert _bits(net) == before
    gpk.load(net, tmp_path / "half.params", dtype="cast")
    _step(net, trainer, TWO, 1)


# --------------------------------------------------------------------------- resume

RESUMES = [("cpu", "sgd"), ("cpu", "adam"), ("device", "sgd"), ("device", "adam")]


def _resume_in_new_process(setup, opt, mode, ckpt, out):
    proc = subprocess.run([sys.executable, str(HERE / "training_worker.py"), setup, opt, mode,
                           str(ckpt), str(out)], capture_output=True, text=True, timeout=180,
                          stdin=subprocess.DEVNULL,
                          env=dict(os.environ, PYTHONPATH=str(HERE.parent)))
    assert proc.returncode == 0, proc.stderr[-3000:]


def _arrays(path):
    with mx.util.np_array(False), mx.util.np_shape(False):  # the kit writes nd files
        loaded = mx.nd.load(str(path))
    return {k: (v.shape, v.dtype, v.asnumpy().tobytes()) for k, v in loaded.items()
            if k != "__gpk_training__"}


@pytest.mark.parametrize("setup, opt", RESUMES, ids=[f"{s}-{o}" for s, o in RESUMES])
def test_resume_in_a_second_process_is_bit_identical(setup, opt, tmp_path):
    ckpt, first, second = tmp_path / "ckpt.params", tmp_path / "a.params", tmp_path / "b.params"
    worker.first_run(setup, opt, ckpt, first)
    _resume_in_new_process(setup, opt, "resume", ckpt, second)
    a, b = _arrays(first), _arrays(second)
    assert list(a) == list(b) and any(k.startswith("state:") for k in a)
    assert a == b  # parameters and every optimizer state, bit for bit
    info_a, info_b = gpk.read_training(first), gpk.read_training(second)
    assert info_a["optimizer"] == info_b["optimizer"]  # update counts, lr, scheduler
    assert info_a["lr_scheduler"] == info_b["lr_scheduler"]
    assert info_a["optimizer"]["run"]["num_update"] == worker.N_FIRST + worker.N_MORE
    if opt == "adam":  # the scheduler moved: 7 updates at step=2, factor=0.7
        assert info_b["lr_scheduler"]["state"]["count"] == 6
    if setup == "cpu" and opt == "adam":  # the states matter: parameters alone differ
        params_only = tmp_path / "c.params"
        _resume_in_new_process(setup, opt, "params-only", ckpt, params_only)
        c = _arrays(params_only)
        assert {k for k in a if a[k] != c[k]} >= {"param:0.weight", "param:1.weight"}


@pytest.mark.parametrize("setup", ["cpu", "device"])
def test_resume_in_np_mode_and_across_modes(setup, mode, tmp_path):
    ckpt, first, second = tmp_path / "ckpt.params", tmp_path / "a.params", tmp_path / "b.params"
    worker.first_run(setup, "adam", ckpt, first)
    worker.resumed_run(setup, "adam", "resume", ckpt, second)
    assert _arrays(first) == _arrays(second)
    mx.npx.reset_np() if mode == "np" else mx.npx.set_np()  # the other mode reads it too
    net, trainer, _ = worker.build(setup, "adam")
    gpk.load_training(net, trainer, second)
    assert {f"param:{k}": p.data().asnumpy().tobytes()
            for k, p in gpk.named_parameters(net).items()} == {
        k: v[2] for k, v in _arrays(second).items() if k.startswith("param:")}


def test_the_checkpoint_holds_no_pickle_and_gluon_states_do(tmp_path, monkeypatch):
    net, trainer, ctx = worker.build("cpu", "sgd")
    _step(net, trainer, ctx, 0)
    trainer.save_states(str(tmp_path / "gluon.states"))
    blob = (tmp_path / "gluon.states").read_bytes()
    states, optimizer = pickle.loads(blob)  # Gluon: a pickle of (states, optimizer)
    assert type(optimizer).__name__ == "SGD" and set(states) == {0, 1, 2, 3}
    gpk.save_training(net, trainer, tmp_path / "kit.params", metadata={"epoch": 0})
    assert b"\x80\x04" not in (tmp_path / "kit.params").read_bytes()[:64]

    def no_pickle(*args, **kwargs):
        raise AssertionError("load_training unpickled something")
    monkeypatch.setattr(pickle, "loads", no_pickle)
    monkeypatch.setattr(pickle, "load", no_pickle)
    net2, trainer2, _ = worker.build("cpu", "sgd")
    report = gpk.load_training(net2, trainer2, tmp_path / "kit.params")
    assert report.metadata == {"epoch": 0} and report.states == list(gpk.named_parameters(net))


# --------------------------------------------------------------------------- refusals

def _saved(tmp_path, opt=("sgd", {"learning_rate": 0.1, "momentum": 0.9})):
    net = _net([mx.cpu()])
    trainer = gluon.Trainer(net.collect_params(), *opt)
    _step(net, trainer, [mx.cpu()], 0)
    gpk.save_training(net, trainer, tmp_path / "run.params", metadata={"epoch": 2})
    return net


@pytest.mark.parametrize("make, message", [
    (lambda net: gluon.Trainer(net.collect_params(), "adam"),
     r"optimizer Adam, not the checkpoint's SGD"),
    (lambda net: gluon.Trainer(net.collect_params(), "sgd", {"momentum": 0.5}),
     r"optimizer momentum: Trainer 0\.5, checkpoint 0\.9"),
    (lambda net: gluon.Trainer(gpk.select(net, r"^1\."), "sgd", {"momentum": 0.9}),
     r"parameter set differs \(field 'trainer\.paths': only the checkpoint has '0\.weight', '0\.bias'\)"),
    (lambda net: gluon.Trainer(net.collect_params(), "sgd", {
        "momentum": 0.9, "lr_scheduler": mx.lr_scheduler.FactorScheduler(3)}),
     r"lr_scheduler FactorScheduler, not the checkpoint's None"),
], ids=["class", "hyperparameter", "parameter-set", "scheduler"])
def test_a_mismatching_trainer_is_refused_saying_what_differs(make, message, tmp_path):
    _saved(tmp_path)
    net = _net([mx.cpu()], seed=5)
    trainer = make(net)
    before = _bits(net)
    with pytest.raises(CheckpointError, match=message + r".*Nothing was changed"):
        gpk.load_training(net, trainer, tmp_path / "run.params")
    assert _bits(net) == before and not trainer._kv_initialized


def test_parameter_problems_refuse_the_whole_checkpoint(tmp_path):
    _saved(tmp_path)
    other = nn.HybridSequential()
    other.add(nn.Dense(6, in_units=5), nn.Dense(4, in_units=6))  # 1.* shapes differ
    other.initialize()
    trainer = gluon.Trainer(other.collect_params(), "sgd", {"learning_rate": 0.1, "momentum": 0.9})
    before = _bits(other)
    with pytest.raises(CheckpointError, match=r"2 with a different shape") as info:
        gpk.load_training(other, trainer, tmp_path / "run.params")
    assert list(info.value.report.shape_mismatches) == ["1.weight", "1.bias"]
    assert _bits(other) == before and not trainer._kv_initialized


def test_plain_files_and_bad_inputs(tmp_path):
    net = _saved(tmp_path)
    gpk.save(net, tmp_path / "plain.params")
    with pytest.raises(CheckpointError, match=r"not a training checkpoint.*gpk\.save_training"):
        gpk.load_training(net, None, tmp_path / "plain.params")
    with pytest.raises(CheckpointTypeError, match=r"trainer must be a gluon\.Trainer, got str"):
        gpk.load_training(net, "sgd", tmp_path / "run.params")
    trainer = gluon.Trainer(net.collect_params(), "sgd")
    with pytest.raises(CheckpointTypeError, match=r"metadata must be plain JSON.*ndarray"):
        gpk.save_training(net, trainer, tmp_path / "x.params", metadata={"a": np.ones(2)})
    with pytest.raises(CheckpointTypeError, match=r"metadata must be a dict, got list"):
        gpk.save_training(net, trainer, tmp_path / "x.params", metadata=[1])
    alien = gluon.Trainer(_net([mx.cpu()]).collect_params(), "sgd")
    with pytest.raises(CheckpointError, match=r"parameters that are not in HybridSequential"):
        gpk.save_training(net, alien, tmp_path / "x.params")
    with pytest.raises(CheckpointTypeError, match=r"^save_training: fsync must be True or False, got ndarray of "
                                                  r"shape \(2,\) float64$"):
        gpk.save_training(net, trainer, tmp_path / "x.params", fsync=np.array([1.0, 2.0]))
    for fsync in (None, "0", 0, 1):  # once written silently (0) or as a flush (1): a bool is meant
        with pytest.raises(CheckpointTypeError, match=rf"^save_training: fsync must be True or False, got {fsync!r}$"):
            gpk.save_training(net, trainer, tmp_path / "x.params", fsync=fsync)
    assert not (tmp_path / "x.params").exists()
    assert gpk.read_training(tmp_path / "run.params")["metadata"] == {"epoch": 2}


def test_a_failed_save_leaves_the_previous_checkpoint_whole(tmp_path, monkeypatch):
    net = _saved(tmp_path)
    old = (tmp_path / "run.params").read_bytes()
    trainer = gluon.Trainer(net.collect_params(), "sgd", {"momentum": 0.9})
    _step(net, trainer, [mx.cpu()], 1)

    def broken_save(fname, data):
        with open(fname, "wb") as f:
            f.write(b"half a file")
        raise mx.base.MXNetError("disk went away")
    monkeypatch.setattr(mx.nd, "save", broken_save)
    with pytest.raises(CheckpointError, match="disk went away"):
        gpk.save_training(net, trainer, tmp_path / "run.params", metadata={"epoch": 3})
    assert (tmp_path / "run.params").read_bytes() == old
    assert os.listdir(tmp_path) == ["run.params"]


def test_report_and_metadata(tmp_path):
    _saved(tmp_path)
    net = _net([mx.cpu()], seed=3)
    trainer = gluon.Trainer(net.collect_params(), "sgd", {"learning_rate": 0.1, "momentum": 0.9})
    report = gpk.load_training(net, trainer, tmp_path / "run.params")
    text = str(report)
    assert "trainer: SGD, states of 4 parameter(s), update 1, lr 0.1" in text
    assert text.endswith('metadata: {"epoch": 2}') and report.dropped == []
    assert report.loaded == ["0.weight", "0.bias", "1.weight", "1.bias"]
    assert isinstance(report, gpk.LoadReport) and report.applied


# --------------------------------------------------------------------------- provenance

def test_provenance_goes_stale_when_gluon_replaces_the_values(tmp_path):
    def fresh():
        net = nn.HybridSequential()
        net.add(nn.Dense(4), nn.Dense(2))  # deferred: the first forward infers shapes
        gpk.InitPlan([(r"weight$", "normal(sigma=0.5)")], default="zeros").apply(net, seed=1)
        net(mx.nd.ones((2, 3)))
        return net

    net = fresh()
    current = gpk.provenance(net)
    assert current["0.weight"] == {"rule": "weight$", "spec": '["normal", {"sigma": 0.5}]',
                                   "seed": current["0.weight"]["seed"]}
    trainer = gluon.Trainer(net.collect_params(), "sgd", {"learning_rate": 0.5})
    for i in range(2):
        with autograd.record():
            loss = net(mx.nd.ones((2, 3)) * i).sum()
        loss.backward()
        trainer.step(2)
    net(mx.nd.ones((2, 3)))
    assert gpk.provenance(net) == current  # training keeps the records true

    net[0].initialize(force_reinit=True)
    records = gpk.provenance(net)
    assert records["0.weight"] == {"stale": "values replaced after this record was made "
                                            "(re-initialized)", "previous": current["0.weight"]}
    assert records["1.weight"] == current["1.weight"]
    assert "stale" in str(gpk.summary(net)).split("0.weight", 1)[1].splitlines()[0]

    other = fresh()
    other[1].weight.set_data(mx.nd.ones((2, 4)))
    assert "set_data / load_parameters" in gpk.provenance(other)["1.weight"]["stale"]
    net.save_parameters(str(tmp_path / "n.params"))
    other.load_parameters(str(tmp_path / "n.params"))
    assert set(k for k, r in gpk.provenance(other).items() if "stale" in r) == {
        "0.weight", "1.weight", "1.bias"}  # 0.bias: zeros (re-initialized) over zeros

    moved = fresh()  # trained, then moved by the kit: still current
    trainer = gluon.Trainer(moved.collect_params(), "sgd", {"learning_rate": 0.5})
    with autograd.record():
        loss = moved(mx.nd.ones((2, 3))).sum()
    loss.backward()
    trainer.step(2)
    records = gpk.provenance(moved)
    gpk.move(moved, TWO)
    assert gpk.provenance(moved) == records and "stale" not in records["0.weight"]

    kit = fresh()
    gpk.load(kit, tmp_path / "n.params")
    assert all(r["stale"].startswith("loaded from") for r in gpk.provenance(kit).values())


# --------------------------------------------------------------------------- dist_sync

@pytest.mark.slow
def test_dist_sync_load_into_a_live_trainer_whose_servers_update(tmp_path):
    from test_dist import _run_cluster
    r0, r1 = sorted(_run_cluster(tmp_path, "dist_training_worker.py", ["servers"]),
                    key=lambda r: r["rank"])
    assert r0["before_load"] == r1["before_load"] != r0["target"]
    # every worker's replicas, and what the servers hold, are the loaded values
    assert r0["after_load"] == r1["after_load"] == r0["target"] == r1["target"]
    assert r0["servers_hold"] == r1["servers_hold"] == r0["target"]
    # and the next step trains from them, the same on both workers
    assert r0["after_step"] == r1["after_step"]
    assert all(r0["after_step"][k] != r0["target"][k] for k in r0["target"])
    for r in (r0, r1):
        assert "runs the optimizer on the servers" in r["save_error"]
        assert "update_on_kvstore=False" in r["save_error"]
        assert "cannot load the Trainer's states" in r["load_error"]
        assert r["after_refusal"] == r["after_step"]


@pytest.mark.slow
def test_dist_sync_resume_with_states_on_the_workers(tmp_path):
    from test_dist import _run_cluster
    r0, r1 = sorted(_run_cluster(tmp_path, "dist_training_worker.py", ["workers"]),
                    key=lambda r: r["rank"])
    assert r0["first"] == r1["first"] and r0["loaded"] == r1["loaded"] != r0["first"]
    assert r0["resumed"] == r1["resumed"] == r0["first"]  # bit for bit
    assert r0["metadata"] == r1["metadata"] == {"step": 2}


def test_the_load_hook_takes_numpy_values_too():
    """Every format's loader calls the hook; one that reads numpy arrays may pass them."""
    from gluon_params_kit.checkpoint._trainer_kv import before_assign
    net = _net(TWO)
    trainer = gluon.Trainer(net.collect_params(), "sgd", kvstore="device")
    _step(net, trainer, TWO, 0)
    value = np.full((3,), 0.25, dtype="float32")
    written = before_assign([(net[1].bias, value)], what="'x.npz'")
    assert written == {id(net[1].bias)}
    assert all((d.asnumpy() == value).all() for d in net[1].bias.list_data())
    assert (_store_values(trainer)[net[1].bias.name] == value).all()


def test_a_trainer_that_compresses_pushes_is_refused(tmp_path):
    net = _net(TWO)
    trainer = gluon.Trainer(net.collect_params(), "sgd", kvstore="device",
                            compression_params={"type": "2bit", "threshold": 0.5})
    _step(net, trainer, TWO, 0)
    gpk.save(_net(TWO, seed=4), tmp_path / "other.params")
    before = _bits(net)
    with pytest.raises(CheckpointError, match=r"compresses kvstore pushes \(\{'type': '2bit'.*"
                                              r"quantize.*Nothing was changed"):
        gpk.load(net, tmp_path / "other.params")
    assert _bits(net) == before


class _FakeDistStore:
    """Records what the dist write path sends; ``served`` is what a pull of the probe gets."""

    type = "dist_sync"

    def __init__(self, rank, served):
        self.rank, self.served, self.calls = rank, served, []

    def init(self, key, value):
        self.calls.append(("init", key))

    def _send_command_to_servers(self, head, body):
        self.calls.append(("command", head, pickle.loads(body.encode())))

    def push(self, key, value):
        self.calls.append(("push", key, value.asnumpy()))

    def pull(self, key, out):
        for o in out if isinstance(out, list) else [out]:
            o[:] = self.served if key >= 100_000 else 5.0


@pytest.mark.parametrize("rank", [0, 1])
def test_dist_write_path_probes_the_servers_first(rank):
    from types import SimpleNamespace

    from gluon_params_kit._server_assign import AssignOnce
    from gluon_params_kit.checkpoint._trainer_kv import _write_on_servers  # noqa: F401 (the path itself)
    net = _net([mx.cpu()])
    param = net[1].bias
    trainer = SimpleNamespace(_param2idx={param.name: 3},
                              _optimizer=mx.optimizer.SGD(learning_rate=0.1))
    value = mx.nd.array([1.5, -2.0, 0.0])
    trainer._kvstore = bad = _FakeDistStore(rank, served=0.0)  # the servers ignored us
    before = param.data().asnumpy()
    with pytest.raises(CheckpointError, match=r"did not take the kit's loading optimizer.*"
                                              r"import gluon_params_kit.*Nothing was changed"):
        _write_on_servers(trainer, [(param, value)])
    pushed = [c[1] for c in bad.calls if c[0] == "push"]
    assert len(pushed) == 1 and pushed[0] >= 100_000  # only the probe key, no Trainer key
    assert (param.data().asnumpy() == before).all()
    trainer._kvstore = good = _FakeDistStore(rank, served=1.0)
    _write_on_servers(trainer, [(param, value)])
    pushes = {c[1]: c[2] for c in good.calls if c[0] == "push"}
    assert sorted(pushes)[0] == 3 and len(pushes) == 2
    if rank == 0:
        command = [c for c in good.calls if c[0] == "command"][0]
        assert isinstance(command[2], AssignOnce) and command[2].pending == set(pushes)
        np.testing.assert_array_equal(pushes[3], value.asnumpy())
    else:  # the others add -0.0, which changes no bit of rank 0's values
        assert not any(c[0] == "command" for c in good.calls)
        assert np.signbit(pushes[3]).all() and (pushes[3] == 0).all()
    assert (param.data().asnumpy() == 5.0).all()  # the replicas take what the servers hold


def test_the_servers_optimizer_assigns_once_then_delegates():
    from gluon_params_kit._server_assign import AssignOnce
    opt = AssignOnce(mx.optimizer.SGD(learning_rate=0.5), [7])
    opt = pickle.loads(pickle.dumps(opt, 0))  # as the servers receive it
    updater = mx.optimizer.get_updater(opt)
    weight = mx.nd.array([1.0, 2.0])
    updater(7, mx.nd.array([10.0, 20.0]), weight)  # the load: assigned
    np.testing.assert_array_equal(weight.asnumpy(), [10.0, 20.0])
    updater(7, mx.nd.array([2.0, 4.0]), weight)  # then the inner optimizer's updates
    np.testing.assert_array_equal(weight.asnumpy(), [9.0, 18.0])
    other = mx.nd.array([1.0])
    updater(8, mx.nd.array([2.0]), other)  # a key that was not loaded: updated at once
    np.testing.assert_array_equal(other.asnumpy(), [0.0])
