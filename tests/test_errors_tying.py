"""Bad input to tying/: each error names the input, lists every problem, and changes nothing.

Part of the bad-input suite (``tests/test_errors*.py``); ``tests/reliability/test_np_mode.py``
replays it in np mode, so arrays are made in the current mode.
"""
import mxnet as mx
import numpy as onp
import pytest
from fixtures import array_in_current_mode, tied_mlp
from mxnet import gluon
from mxnet.gluon import nn

from gluon_params_kit.errors import (
    ParamsKitError,
    PathError,
    SelectionError,
    SelectionTypeError,
    TieError,
    TieTypeError,
)
from gluon_params_kit.tree import fresh_names, named_parameters
from gluon_params_kit.tying import (
    TransposedDense,
    check_tied_gradients,
    repeat_tied,
    tie,
    tied_copy,
    tied_groups,
)


def snapshot_tying(block):
    """Everything tie() could change: who holds which Parameter, and each ParameterDict."""
    holders = {path: id(p) for path, p in named_parameters(block, aliases=True).items()}
    dicts = {name: list(b._params._params.items()) for name, b in block._children.items()}
    attrs = {name: {a: id(getattr(b, a)) for a in b._reg_params} for name, b in block._children.items()}
    return holders, dicts, attrs


def pair(a, b):
    with fresh_names():
        net = nn.Sequential()
        net.add(a, b)
    return net


def test_tie_shape_mismatch_lists_both_and_changes_nothing():
    net = pair(nn.Dense(4, in_units=3), nn.Dense(5, in_units=3))
    before = snapshot_tying(net)
    with pytest.raises(TieError) as info:
        tie(net[1], net[0])
    msg = str(info.value)
    assert "'weight': shape (5, 3) vs source (4, 3)" in msg and "'bias': shape (5,) vs source (4,)" in msg
    assert "2 mismatch(es)" in msg and "nothing was changed" in msg
    assert snapshot_tying(net) == before
    assert isinstance(info.value, ValueError) and isinstance(info.value, ParamsKitError)


def test_tie_dtype_and_grad_req_mismatches_all_listed():
    net = pair(nn.Dense(4, in_units=3), nn.Dense(4, in_units=3, dtype="float16"))
    net[1].bias.grad_req = "null"
    before = snapshot_tying(net)
    with pytest.raises(TieError) as info:
        tie(net[1], net[0])
    msg = str(info.value)
    assert "'weight': dtype float16 vs source float32" in msg
    assert "'bias': dtype float16 vs source float32" in msg
    assert "'bias': grad_req 'null' vs source 'write'" in msg
    assert "3 mismatch(es)" in msg
    assert snapshot_tying(net) == before


def test_tie_missing_path_names_closest_and_changes_nothing():
    with fresh_names():
        a = nn.HybridSequential()
        a.add(nn.Dense(4, in_units=3))
        b = nn.HybridSequential()
        b.add(nn.Dense(4, in_units=3), nn.Dense(4, in_units=4))
    held = [id(p) for p in named_parameters(b).values()]
    with pytest.raises(TieError) as info:
        tie(b, a)
    msg = str(info.value)
    assert "'1.weight': missing in source" in msg and "'1.bias': missing in source" in msg
    assert "Did you mean '0.weight'?" in msg
    assert [id(p) for p in named_parameters(b).values()] == held


def test_tie_block_to_itself():
    net = tied_mlp()
    before = snapshot_tying(net)
    with pytest.raises(TieError, match=f"cannot tie block '{net[1].name}' to itself: target and "
                                       f"source are the same Dense"):
        tie(net[1], net[1])
    with pytest.raises(TieError, match="to itself"):
        tie("1", "1", root=net)
    assert snapshot_tying(net) == before


def test_tie_name_clash_between_two_fresh_names_nets():
    with fresh_names():
        a = nn.Dense(4, in_units=3)
    with fresh_names():
        net = nn.Sequential()
        net.add(nn.Dense(4, in_units=3), nn.Dense(4, in_units=3))  # dense0, dense1
    with pytest.raises(TieError, match="would be named 'dense0_weight'"):
        tie(net[1], a, root=net)
    assert net[1].weight is not a.weight


def test_tie_pattern_errors():
    net = pair(nn.Dense(4, in_units=3), nn.Dense(4, in_units=3))
    with pytest.raises(SelectionError, match=f"pattern 'gamma' selects nothing in Dense '{net[1].name}' "
                                             r"\(mode='search', on='path'\): existing paths are 'weight', 'bias'"):
        tie(net[1], net[0], pattern="gamma")
    with pytest.raises(SelectionError, match=r"invalid regular expression '\('"):
        tie(net[1], net[0], pattern="(")
    with pytest.raises(SelectionTypeError, match="pattern must be a str, a list or tuple of str, a callable"):
        tie(net[1], net[0], pattern=3)
    assert net[1].weight is not net[0].weight


def test_tie_bad_blocks_and_paths():
    net = tied_mlp()
    with pytest.raises(TieTypeError, match="target must be a mxnet.gluon.Block .* got str"):
        tie("1", net[0])
    with pytest.raises(TieError, match="names a Parameter in root, not a block"):
        tie("1.weight", "0", root=net)
    with pytest.raises(PathError, match="no '7'"):
        tie("7", "0", root=net)
    with pytest.raises(TieError, match="root must be a mxnet.gluon.Block, got int"):
        tie("1", "0", root=5)


def test_tied_copy_errors():
    class Opaque(nn.HybridBlock):
        def __init__(self, hidden, **kwargs):
            super().__init__(**kwargs)
            with self.name_scope():
                self.body = nn.Dense(hidden)

        def hybrid_forward(self, F, x):
            return self.body(x)

    class NoParams(nn.Block):
        def __init__(self):
            super().__init__()

    with pytest.raises(TieError, match=r"cannot recover Opaque's constructor argument\(s\) 'hidden'.*"
                                       r"tied_copy\(layer, hidden=\.\.\.\)"):
        tied_copy(Opaque(3))
    assert tied_copy(Opaque(3), hidden=3).body.weight.shape[0] == 3
    with pytest.raises(TieError, match="NoParams's constructor takes no `params=`"):
        tied_copy(NoParams())
    with pytest.raises(TieError, match=r"Dense takes no argument 'unit'; it takes: 'units'"):
        tied_copy(nn.Dense(3), unit=4)
    with pytest.raises(TieTypeError, match="layer must be a mxnet.gluon.Block, got int"):
        tied_copy(3)
    with pytest.raises(TieError, match="while building a tied copy of Dense"):
        tied_copy(nn.Dense(3, in_units=2), units=5)  # Gluon refuses the conflicting shape


def test_repeat_tied_bad_times():
    for bad, wrong_type in ((0, False), (-1, False), (2.0, True), (True, True), ("2", True),
                            (10_001, False), (10 ** 30, False)):  # 10**30 hung, building blocks
        with pytest.raises(TieError, match=rf"repeat_tied: times must be an int in 1\.\.10000 "
                                           rf"\(positions; .*\), got {bad!r}$") as info:
            repeat_tied(nn.Dense(2), bad)
        assert isinstance(info.value, TieTypeError) is wrong_type
    with pytest.raises(TieTypeError, match=r"times must be .*got NDArray of shape \(1,\) float32"):
        repeat_tied(nn.Dense(2), mx.nd.array([3]))


def test_arrays_as_options_name_the_option_and_leave_autograd_off():
    """An array where a flag is meant: a TieTypeError naming it, not "The truth value of an
    NDArray is ambiguous"; a bad train_mode used to leave autograd recording on."""
    flag = mx.nd.array([1, 0])
    with pytest.raises(TieTypeError, match=r"TransposedDense: use_bias must be True or False, got NDArray"):
        TransposedDense(nn.Embedding(5, 3), use_bias=flag)
    with pytest.raises(TieTypeError, match=r"TransposedDense: flatten must be True or False, got ndarray"):
        TransposedDense(nn.Embedding(5, 3), flatten=onp.array([True]))
    net = nn.Sequential()
    shared = nn.Dense(3, in_units=3)
    net.add(shared, nn.Dense(3, in_units=3, params=shared.params))
    net.initialize()
    x = array_in_current_mode((2, 3))
    for bad in (flag, onp.bool_(True), None, 1):
        with pytest.raises(TieTypeError, match=r"check_tied_gradients: train_mode must be True or False"):
            check_tied_gradients(net, x, lambda out: out.sum(), train_mode=bad)
        assert not mx.autograd.is_recording() and not mx.autograd.is_training()
    assert check_tied_gradients(net, x, lambda out: out.sum()).broken == []
    # selection options are a selection's concern, whatever function takes them
    with pytest.raises(SelectionTypeError, match=r"allow_empty must be True or False, got NDArray"):
        tie(net[1], net[0], allow_empty=flag)
    with pytest.raises(SelectionTypeError, match=r"unknown on=NDArray of shape \(2,\) float32\. Expected one of"):
        tie(net[1], net[0], on=flag)


@pytest.mark.parametrize("call", [lambda: tied_copy("x"), lambda: tie("x", nn.Dense(2)),
                                  lambda: tie(nn.Dense(2), "x"), lambda: tie(nn.Dense(2), nn.Dense(2), root=5),
                                  lambda: repeat_tied("x", 2), lambda: tied_groups("x"),
                                  lambda: TransposedDense("x")])
def test_a_wrong_type_is_a_tie_type_error_everywhere(call):
    """``tied_copy('x')`` raised a plain TieError while ``tie('x', net)`` raised TieTypeError."""
    with pytest.raises(TieTypeError, match=r"must be .*got str|got int") as info:
        call()
    assert isinstance(info.value, TypeError) and isinstance(info.value, TieError)


def test_transposed_dense_bad_embedding():
    with pytest.raises(TieTypeError, match="embedding must be an nn.Embedding .* got Dropout"):
        TransposedDense(nn.Dropout(0.5))
    with pytest.raises(TieError, match=r"must be 2-D \(vocab, dim\) with a known vocab size, got shape \(4,\)"):
        TransposedDense(nn.Dense(4).bias)
    with pytest.raises(TieError, match="row_sparse gradient.*sparse_grad=False"):
        TransposedDense(nn.Embedding(10, 4, sparse_grad=True))


def test_report_and_gradient_check_errors():
    net = tied_mlp()
    with pytest.raises(TieError, match="block must be a mxnet.gluon.Block, got list"):
        tied_groups([net])
    with pytest.raises(TieError, match="is not initialized .* call block.initialize"):
        check_tied_gradients(net, mx.nd.ones((2, 4)), lambda o: o.sum())
    net.initialize()
    with pytest.raises(TieTypeError, match="loss_fn must be a callable"):
        check_tied_gradients(net, mx.nd.ones((2, 4)), "mse")
    report = tied_groups(net)
    with pytest.raises(PathError, match=r"no tied group '2.wieght' in this tied-groups report.*Did you mean '2.weight'"):
        report["2.wieght"]
    with pytest.raises(KeyError):
        report["0.weight"]
    trainer = gluon.Trainer(net.collect_params(), "sgd")
    assert len(trainer._params) == 6


def test_tie_context_mismatch():
    net = pair(nn.Dense(4, in_units=3), nn.Dense(4, in_units=3))
    net[0].initialize(ctx=[mx.cpu(0), mx.cpu(1)])
    net[1].initialize(ctx=mx.cpu(0))
    before = snapshot_tying(net)
    with pytest.raises(TieError, match=r"'weight': contexts \[cpu\(0\)\] vs source \[cpu\(0\), cpu\(1\)\]"):
        tie(net[1], net[0])
    assert snapshot_tying(net) == before
