"""summary() as torchinfo and Keras users expect it (issue 31, "Summaries as people expect them").

- example inputs as shape tuples, lists of them, ``input_size=`` and numpy arrays; anything
  else is an InspectionTypeError that says what to pass;
- Mult-Adds checked against hand counts (the arithmetic is written out in each test) and
  activation memory (bytes of the arrays the layers return, each once);
- a screen-sized default: depth 3, "N more rows below depth D", runs of identical blocks
  folded as "3 x BottleneckV1"; ResNet-50 with an input in <= 60 lines and < 100 KB of HTML.
"""
import gluon_params_kit  # noqa: F401  (numpy shim before mxnet)

# isort: split
import re
import warnings

import mxnet as mx
import numpy as np
import pytest
from fixtures import book_mlp, book_rgnet, initialized
from mxnet import npx
from mxnet.gluon import nn, rnn

import gluon_params_kit as gpk
from gluon_params_kit.errors import InspectionError, InspectionTypeError
from gluon_params_kit.inspection import summary


def dense_net():
    with gpk.fresh_names():
        net = nn.HybridSequential()
        net.add(nn.Dense(4, in_units=3), nn.Dense(2, in_units=4))
    net.initialize()
    return net


# --------------------------------------------------------------------------- inputs

def test_shape_tuples_lists_input_size_and_numpy_arrays_all_work():
    net = dense_net()
    want = summary(net, mx.nd.zeros((5, 3)))
    for got in (summary(net, (5, 3)), summary(net, input_size=(5, 3)), summary(net, input_size=[5, 3]),
                summary(net, [(5, 3)]), summary(net, input_size=[(5, 3)]),
                summary(net, np.zeros((5, 3))), summary(net, np.zeros((5, 3), dtype=np.float64))):
        assert [l["outputs"] for l in got.layers] == [l["outputs"] for l in want.layers] == [[(5, 2)], [(5, 4)],
                                                                                            [(5, 2)]]
        assert got.totals["mult_adds"] == want.totals["mult_adds"] == 5 * 4 * 3 + 5 * 2 * 4
        assert got.totals["input_bytes"] == 5 * 3 * 4  # float32 zeros, also from a float64 array


def test_several_inputs_and_a_list_argument_stay_as_given():
    class Two(nn.HybridBlock):
        def __init__(self):
            super().__init__()
            self.a, self.b = nn.Dense(3, in_units=4), nn.Dense(3, in_units=2)

        def hybrid_forward(self, F, x, y):
            return self.a(x) + self.b(y)

    net = Two()
    net.initialize()
    for s in (summary(net, (2, 4), (2, 2)), summary(net, [(2, 4), (2, 2)]),
              summary(net, input_size=[(2, 4), (2, 2)]), summary(net, [np.ones((2, 4)), mx.nd.ones((2, 2))])):
        assert s.layers[0]["outputs"] == [(2, 3)] and s.totals["mult_adds"] == 2 * 3 * 4 + 2 * 3 * 2
    cell = rnn.LSTMCell(5, input_size=3)
    cell.initialize()
    # the states are one list argument, as for cell(x, [h, c]); one step: batch 2 x 4 gates x (3 + 5) x 5
    s = summary(cell, (2, 3), [(2, 5), (2, 5)])
    assert s.totals["mult_adds"] == 2 * 4 * (3 + 5) * 5


def test_inputs_are_zeros_of_the_nets_dtype_on_its_context_in_its_mode(mode):
    with gpk.fresh_names():
        net = nn.HybridSequential()
        net.add(nn.Dense(4, in_units=3))
    net.initialize(ctx=mx.cpu(1))
    net.cast("float64")
    seen = []
    net.register_forward_pre_hook(lambda block, args: seen.append(args[0]))
    s = summary(net, (2, 3))
    (x,) = seen
    assert x.context == mx.cpu(1) and x.dtype == np.float64 and not x.asnumpy().any()
    assert isinstance(x, mx.np.ndarray) is (mode == "np")
    assert s.totals["input_bytes"] == 2 * 3 * 8 and s.totals["activation_bytes"] == 2 * 4 * 8


def test_an_integer_numpy_array_keeps_its_type_for_an_embedding():
    net = nn.Embedding(10, 4)
    net.initialize()
    seen = []
    net.register_forward_pre_hook(lambda block, args: seen.append(args[0]))
    s = summary(net, np.array([[1, 2, 3]], dtype=np.int32))
    assert seen[0].dtype == np.int32 and s.layers[0]["outputs"] == [(1, 3, 4)]
    assert s.totals["mult_adds"] == 0  # a lookup: zero multiply-adds, counted as defined


WHAT = re.escape("pass an NDArray, mx.np.ndarray or numpy array, a shape tuple such as (2, 20) (zeros of "
                 "the net's dtype on its context), or a list of those")


@pytest.mark.parametrize("bad, said", [
    ("x", r"inputs\[0\] is 'x'; " + WHAT),
    (20, r"inputs\[0\] is 20; " + WHAT),
    (None, r"inputs\[0\] is None; " + WHAT),
    ({"x": 1}, r"inputs\[0\] is \{'x': 1\}; " + WHAT),
    ((), r"inputs\[0\] is \(\) \(an empty tuple is no shape\); " + WHAT),
    ([(2, 3), "y"], r"inputs\[1\] is 'y'; " + WHAT),
    ([[2, 3]], r"inputs\[0\] is \[2, 3\] \(a shape is a tuple: \(2, 3\)\); " + WHAT),
    ((2.0, 3), r"inputs\[0\]\[0\] is 2.0; " + WHAT),
])
def test_anything_else_is_a_type_error_saying_what_to_pass(bad, said):
    net = dense_net()
    calls = []
    net.register_forward_pre_hook(lambda *a: calls.append(1))
    with pytest.raises(InspectionTypeError, match=said):
        summary(net, bad)
    assert calls == []  # nothing ran


def test_bad_shapes_and_input_size_are_refused_by_name():
    net = dense_net()
    with pytest.raises(InspectionError, match=r"inputs\[0\] = \(2, 0\): every dimension of a shape must be >= 1"):
        summary(net, (2, 0))
    with pytest.raises(InspectionError, match=r"holds 10,000,000,000 values, more than one input may"):
        summary(net, (100000, 100000))
    with pytest.raises(InspectionTypeError, match=r"input_size must be a shape tuple such as \(2, 20\), or a list "
                                                  r"of them such as \[\(2, 20\), \(2, 5\)\], got 'a'"):
        summary(net, input_size="a")
    with pytest.raises(InspectionTypeError, match=r"give example inputs or input_size, not both"):
        summary(net, (5, 3), input_size=(5, 3))


# --------------------------------------------------------------------------- Mult-Adds

def test_mult_adds_of_a_small_dense_conv_net_match_a_hand_count():
    with gpk.fresh_names():
        net = nn.HybridSequential()
        net.add(nn.Conv2D(4, kernel_size=3, padding=1, in_channels=2),            # (2, 4, 8, 8)
                nn.Activation("relu"),
                nn.Conv2D(6, kernel_size=3, strides=2, groups=2, in_channels=4),  # (2, 6, 3, 3)
                nn.Dense(5))                                                      # (2, 5) from 54 inputs
    net.initialize()
    s = summary(net, (2, 2, 8, 8))
    by_path = {l["path"]: l for l in s.layers}
    # conv 0: output positions 2 x 8 x 8 = 128, each: 4 out channels x 3 x 3 kernel x 2 in channels
    assert by_path["0"]["mult_adds"] == 128 * 4 * 9 * 2 == 9216
    assert by_path["1"]["mult_adds"] is None  # an activation: not counted
    # conv 2: (8 - 3) // 2 + 1 = 3, positions 2 x 3 x 3 = 18, each: 6 out x 9 kernel x 4 / 2 groups in
    assert by_path["2"]["mult_adds"] == 18 * 6 * 9 * 2 == 1944
    # dense: 2 rows x 5 units x (6 x 3 x 3 = 54) inputs
    assert by_path["3"]["mult_adds"] == 2 * 5 * 54 == 540
    assert by_path[""]["mult_adds"] == s.totals["mult_adds"] == 9216 + 1944 + 540 == 11700
    text = str(s)
    assert re.search(r"^  0\s+Conv2D\s+\(2, 4, 8, 8\)\s+76\s+9,216\s", text, re.M)
    assert re.search(r"^  1\s+Activation\s+\(2, 4, 8, 8\)\s+0\s+-\s", text, re.M)
    assert "Mult-Adds: 11,700 in Conv2D, Dense layers; other layers not counted" in text


def test_mult_adds_of_other_convolutions_and_dense_on_sequences():
    cases = [
        # Conv1D: positions 2 x 10 (padding 1), each 3 out x kernel 3 x 4 in
        (nn.Conv1D(3, kernel_size=3, padding=1, in_channels=4), (2, 4, 10), 2 * 10 * 3 * 3 * 4),
        # Conv3D: output 1 x 2 x 2 x 2 positions, each 2 out x 2 x 2 x 2 kernel x 1 in
        (nn.Conv3D(2, kernel_size=2, in_channels=1), (1, 1, 3, 3, 3), 8 * 2 * 8 * 1),
        # Conv2DTranspose: each of the 5 x 5 input positions meets every weight once:
        # 25 positions x 2 in x 4 x 4 kernel x 3 out (the output is 12 x 12)
        (nn.Conv2DTranspose(3, kernel_size=4, strides=2, in_channels=2), (1, 2, 5, 5), 25 * 2 * 16 * 3),
        # Dense on a sequence (flatten=False): 2 x 7 rows x 4 units x 3 inputs
        (nn.Dense(4, flatten=False, in_units=3), (2, 7, 3), 2 * 7 * 4 * 3),
        (nn.Embedding(10, 4), (2, 3), 0),
    ]
    for layer, shape, want in cases:
        layer.initialize()
        s = summary(layer, shape)
        assert s.totals["mult_adds"] == want, (type(layer).__name__, s.totals["mult_adds"], want)
    out = summary(cases[2][0], (1, 2, 5, 5)).layers[0]["outputs"]
    assert out == [(1, 3, 12, 12)]


def test_mult_adds_of_recurrent_layers_match_a_hand_count():
    # LSTM, 2 layers, bidirectional, hidden 5, input 3, batch 2 x 7 steps (NTC). Per step and sequence:
    #   layer 0, each direction: 4 gates x (3 input + 5 hidden) x 5 = 160; two directions: 320
    #   layer 1 (input = 2 x 5 = 10), each direction: 4 x (10 + 5) x 5 = 300; two directions: 600
    # 920 per step and sequence, x 7 steps x 2 sequences = 12,880
    lstm = rnn.LSTM(5, num_layers=2, layout="NTC", bidirectional=True, input_size=3)
    lstm.initialize()
    s = summary(lstm, (2, 7, 3))
    assert s.totals["mult_adds"] == (2 * 4 * (3 + 5) * 5 + 2 * 4 * (10 + 5) * 5) * 7 * 2 == 12880
    assert s.layers[0]["outputs"] == [(2, 7, 10)]
    # GRU: 3 gates x (3 + 4) x 4 = 84 per step and sequence; RNN: 1 x (3 + 4) x 4 = 28; TNC (6 steps, batch 2)
    gru, plain = rnn.GRU(4, input_size=3), rnn.RNN(4, input_size=3)
    for layer, gates in ((gru, 3), (plain, 1)):
        layer.initialize()
        assert summary(layer, (6, 2, 3)).totals["mult_adds"] == gates * (3 + 4) * 4 * 6 * 2
    # embedding -> LSTM -> dense head: 0 + 4 x (8 + 16) x 16 x 5 x 2 + 2 x 5 x 3 x 16
    with gpk.fresh_names():
        net = nn.HybridSequential()
        net.add(nn.Embedding(100, 8), rnn.LSTM(16, layout="NTC"), nn.Dense(3, flatten=False))
    net.initialize()
    s = summary(net, np.zeros((2, 5), dtype=np.int32))
    assert [l["mult_adds"] for l in s.layers] == [15360 + 480, 0, 15360, 480]
    assert "Mult-Adds: 15,840 in Embedding, LSTM, Dense layers" in str(s)


# --------------------------------------------------------------------------- activations

def test_activation_bytes_count_each_returned_array_once():
    class Same(nn.HybridBlock):
        def hybrid_forward(self, F, x):
            return x  # returns its input: nothing new

    with gpk.fresh_names():
        net = nn.HybridSequential()
        net.add(nn.Dense(4, in_units=3), nn.Activation("relu"), Same(), nn.Dense(2))
    net.initialize()
    s = summary(net, (5, 3))
    # (5, 4) float32 = 80 B from the Dense, 80 B more from relu (a new array), 0 from Same,
    # (5, 2) = 40 B; the Sequential returns its last layer's array: 0 more
    assert [l["activation_bytes"] for l in s.layers] == [200, 80, 80, 0, 40]
    assert s.totals["activation_bytes"] == 200 and s.totals["input_bytes"] == 60
    assert ("Activations: 200 B returned by the layers in one forward pass (each array once; training keeps "
            "them and as much again in gradients); input 60 B") in " ".join(str(s).split("\n  "))
    plain = summary(net)  # no inputs: nothing traced, no such line
    assert plain.totals["activation_bytes"] is None and "Activations" not in str(plain)


# --------------------------------------------------------------------------- depth and folding

def encoder(cells=12):
    class EncoderCell(nn.HybridBlock):
        def __init__(self):
            super().__init__()
            self.attention, self.ffn = nn.Dense(8, flatten=False, in_units=8), nn.Dense(8, flatten=False, in_units=8)

        def hybrid_forward(self, F, x):
            return self.ffn(self.attention(x))

    with gpk.fresh_names():
        net = nn.HybridSequential()
        net.add(nn.Embedding(50, 8))
        stack = nn.HybridSequential()
        for _ in range(cells):
            stack.add(EncoderCell())
        net.add(stack, nn.Dense(50, flatten=False, in_units=8))
    net.initialize()
    return net


def test_twelve_identical_cells_are_one_row_with_their_subtotal():
    net = encoder()
    s = summary(net, np.zeros((2, 6), dtype=np.int32))
    text = str(s)
    one = 2 * (8 * 8 + 8)
    row = re.search(r"^    1\.0-11\s+12 x EncoderCell\s+\(2, 6, 8\)\s+([\d,]+)\s+([\d,]+)\s", text, re.M)
    assert row, text
    # 12 cells x 2 Dense x (2 x 6 rows x 8 units x 8 inputs)
    assert row.group(1) == f"{12 * one:,}" and row.group(2) == f"{12 * 2 * 2 * 6 * 8 * 8:,}"
    assert "identical blocks folded: 1.0-11 = 12 x EncoderCell (fold=False shows each)" in text.replace("\n  ", " ")
    assert len(s) == 1 + 12 * 4 + 2  # the rows themselves keep every parameter
    full = summary(net, np.zeros((2, 6), dtype=np.int32), fold=False)
    assert "12 x" not in str(full) and len(str(full).splitlines()) > len(text.splitlines()) + 20
    html = s._repr_html_()
    assert "12 x EncoderCell" in html and "1.5.ffn" not in html


def test_only_identical_consecutive_blocks_fold():
    def conv(strides=1):
        return nn.Conv2D(4, kernel_size=3, padding=1, strides=strides, in_channels=4)

    with gpk.fresh_names():
        net = nn.HybridSequential()
        net.add(conv(), conv(), conv(2), nn.Dense(4, flatten=False, in_units=3), conv())
    net.initialize()
    net[0].weight.grad_req = "null"  # 0 and 1: same class and shapes, but 0 is frozen
    net[0].bias.grad_req = "null"
    rows = [l for l in str(summary(net, fold=True)).splitlines() if l.startswith(("0", "1", "2", "3", "4"))]
    assert [r.split()[0] for r in rows] == ["0.weight", "0.bias", "1-2", "3.weight", "3.bias", "4.weight", "4.bias"]
    # 1 and 2 have the same parameters; traced, 2 has another output shape (strides 2): no fold
    traced = summary(net, (1, 4, 6, 6))
    assert [l["path"] for l in traced._shown_layers()[0]] == ["", "0", "1", "2", "3", "4"]


def test_a_long_run_of_identical_layers_is_one_row():
    net = nn.Sequential()
    for _ in range(300):
        net.add(nn.Dense(2, in_units=2))
    net.initialize()
    s = summary(net)
    rows = [line for line in str(s).splitlines() if line.startswith("0-299")]
    assert len(rows) == 1 and "300 x Dense" in rows[0] and "[600 tensors]" in rows[0]
    assert "identical blocks folded: 0-299 = 300 x Dense (fold=False shows each)" in str(s)
    assert len(str(summary(net, fold=False)).splitlines()) > 600


def test_depth_limits_the_display_and_says_how_many_rows_are_below():
    net = nn.Sequential()
    inner = net
    for _ in range(5):  # blocks at depths 1..5, the Dense at 6
        child = nn.Sequential()
        inner.add(child)
        inner = child
    inner.add(nn.Dense(2, in_units=2))
    net.initialize()
    s = summary(net, (1, 2))
    text = str(s)
    # layers: root and depths 1..3 shown; 4, 5 and the Dense (6) below
    assert "3 more rows below depth 3 (depth=None shows all)" in text
    # parameters: the 2 rows of the Dense are one subtotal row at 0.0.0
    assert re.search(r"^0\.0\.0\s+\S+\s+\[2 tensors\]", text, re.M)
    assert "1 more row below depth 3 (depth=None shows all)" in text
    assert list(s) == ["0.0.0.0.0.0.weight", "0.0.0.0.0.0.bias"]  # the rows keep every parameter
    assert "0.0.0.0.0.0.weight" in str(summary(net, (1, 2), depth=None))
    assert [r["path"] for r in summary(net, depth=3).to_records()] == ["0.0.0"]  # an int folds the rows too
    with pytest.raises(InspectionError, match="fold must be"):
        summary(net, fold="no")


def test_small_nets_look_as_before():
    net = initialized(book_mlp(), (2, 20))
    assert str(summary(net)) == str(summary(net, depth=None, fold=False))
    rg = initialized(book_rgnet(), (2, 20))
    assert "0.1-3" in str(summary(rg)) and "0.1-3" not in str(summary(rg, fold=False))


# --------------------------------------------------------------------------- ResNet-50

@pytest.fixture(scope="module")
def resnet50():
    with gpk.fresh_names(), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        net = mx.gluon.model_zoo.vision.get_model("resnet50_v1")
    net.initialize(mx.init.Xavier())
    net.hybridize()
    return net, summary(net, (1, 3, 224, 224))


def test_resnet50_with_an_input_fits_a_screen(resnet50):
    net, s = resnet50
    text = str(s)
    lines = text.splitlines()
    assert len(lines) <= 60 and max(map(len, lines)) <= 120, len(lines)
    for row in ("features.4.1-2", "2 x BottleneckV1", "features.5.1-3", "3 x BottleneckV1",
                "features.6.1-5", "5 x BottleneckV1"):
        assert row in text
    assert re.search(r"\d+ more rows below depth 3 \(depth=None shows all\)", text)
    assert re.search(r"features\.4\.1-2\s+2 x BottleneckV1\s+\(1, 256, 56, 56\)\s+142,976\s", text)
    assert len(s) == 299 and len(s.to_records()) == 299  # every parameter is still a row
    assert len(s.to_string(width=120).splitlines()) == len(lines)
    full = summary(net, (1, 3, 224, 224), depth=None, fold=False)
    assert len(str(full).splitlines()) > 450


def test_resnet50_mult_adds_are_its_convolutions_and_dense(resnet50):
    net, s = resnet50
    want = 0
    layers = {l["path"]: l for l in summary(net, (1, 3, 224, 224), depth=None).layers}
    for path, block in gpk.named_blocks(net).items():
        if isinstance(block, nn.Conv2D):
            n, c, h, w = layers[path]["outputs"][0]
            # positions x (out x in x kh x kw); the shape as the pass inferred it (still deferred in the net)
            want += n * h * w * s[path + ".weight"]["size"]
        elif isinstance(block, nn.Dense):
            want += s[path + ".weight"]["size"]  # one row: units x in_units
    assert s.totals["mult_adds"] == want == 3_857_973_248
    assert "Mult-Adds: 3.86 G (3,857,973,248) in Conv2D, Dense layers" in str(s)


def test_resnet50_html_is_small_and_holds_what_is_shown(resnet50):
    net, s = resnet50
    page = s._repr_html_()
    assert len(page.encode()) < 100_000
    assert "2 x BottleneckV1" in page and "features.4.1.body" not in page
    with_stats = summary(net, (1, 3, 224, 224), stats=True)._repr_html_()
    assert len(with_stats.encode()) < 100_000 and "mean" in with_stats
    everything = summary(net, (1, 3, 224, 224), depth=None, fold=False)._repr_html_()
    assert len(everything) > 3 * len(page)


def test_shapes_work_in_np_mode_too():
    npx.set_np()
    try:
        with gpk.fresh_names():
            net = nn.HybridSequential()
            net.add(nn.Conv2D(2, kernel_size=1, in_channels=3), nn.Dense(2))
        net.initialize()
        s = summary(net, (1, 3, 4, 4))
        assert s.totals["mult_adds"] == 16 * 2 * 3 + 2 * 32
    finally:
        npx.reset_np()
