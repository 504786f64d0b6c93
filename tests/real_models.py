"""The real-model corpus: MXNet's own blocks as users bring them, plus three ecosystem-style blocks.

Every builder returns ``(net, inputs)``: a fresh block (auto names from ``fresh_names()``)
and the example inputs of one forward in the current array mode (``None`` for blocks whose
shapes are all known, which ``initialize()`` alone finishes). Nothing here downloads: the
model-zoo nets are built with ``pretrained=False``.
"""
import mxnet as mx
import numpy as onp
from fixtures import array
from mxnet.gluon import nn, rnn
from mxnet.gluon.contrib import nn as cnn
from mxnet.gluon.model_zoo import vision
from mxnet.util import is_np_array

from gluon_params_kit import fresh_names

# Every architecture name model_zoo.vision.get_model knows (34 in MXNet 1.9.1).
ZOO_NAMES = sorted([
    "alexnet", "densenet121", "densenet161", "densenet169", "densenet201", "inceptionv3",
    "mobilenet0.25", "mobilenet0.5", "mobilenet0.75", "mobilenet1.0", "mobilenetv2_0.25",
    "mobilenetv2_0.5", "mobilenetv2_0.75", "mobilenetv2_1.0", "resnet101_v1", "resnet101_v2",
    "resnet152_v1", "resnet152_v2", "resnet18_v1", "resnet18_v2", "resnet34_v1", "resnet34_v2",
    "resnet50_v1", "resnet50_v2", "squeezenet1.0", "squeezenet1.1", "vgg11", "vgg11_bn", "vgg13",
    "vgg13_bn", "vgg16", "vgg16_bn", "vgg19", "vgg19_bn"])


def _ops(F):
    """The operator namespace of the current mode: ``F.npx``/``F.np`` after set_np, else ``F``."""
    return (F.npx, F.np) if is_np_array() else (F, F)


class Attention(nn.HybridBlock):
    """Single-head attention whose projections are its own Parameters, saved under its own keys.

    Ecosystem attention cells keep ``query_weight`` on the block itself but save it as
    ``proj_query.weight`` (the layout of an older version built from Dense children), by
    overriding ``_collect_params_with_prefix``: exactly what the kit must follow.
    """

    def __init__(self, units, **kwargs):
        super().__init__(**kwargs)
        self._units = units
        with self.name_scope():
            for part in ("query", "key", "value"):
                setattr(self, f"{part}_weight", self.params.get(f"{part}_weight", shape=(units, units)))
                setattr(self, f"{part}_bias", self.params.get(f"{part}_bias", shape=(units,),
                                                              init="zeros"))
            self.out = nn.Dense(units, flatten=False, in_units=units)

    def _collect_params_with_prefix(self, prefix=""):
        if prefix:
            prefix += "."
        ret = {}
        for attr, param in self._reg_params.items():
            part, kind = attr.rsplit("_", 1)  # query_weight -> proj_query.weight
            ret[f"{prefix}proj_{part}.{kind}"] = param
        for name, child in self._children.items():
            ret.update(child._collect_params_with_prefix(prefix + name))
        return ret

    def hybrid_forward(self, F, q_in, kv_in, query_weight, query_bias, key_weight, key_bias,
                       value_weight, value_bias):
        npx, _ = _ops(F)
        fc = npx.fully_connected if is_np_array() else F.FullyConnected
        q = fc(q_in, query_weight, query_bias, num_hidden=self._units, flatten=False)
        k = fc(kv_in, key_weight, key_bias, num_hidden=self._units, flatten=False)
        v = fc(kv_in, value_weight, value_bias, num_hidden=self._units, flatten=False)
        scores = npx.batch_dot(q, k, transpose_b=True) / (self._units ** 0.5)
        return self.out(npx.batch_dot(npx.softmax(scores, axis=-1), v))


class TransformerLayer(nn.HybridBlock):
    """Attention, feed-forward, two LayerNorms: a transformer layer in miniature."""

    def __init__(self, units, **kwargs):
        super().__init__(**kwargs)
        with self.name_scope():
            self.attention = Attention(units)
            self.ffn = nn.HybridSequential()
            self.ffn.add(nn.Dense(2 * units, flatten=False, in_units=units, activation="relu"),
                         nn.Dense(units, flatten=False, in_units=2 * units))
            self.norm1 = nn.LayerNorm(in_channels=units)
            self.norm2 = nn.LayerNorm(in_channels=units)

    def hybrid_forward(self, F, x, memory):
        x = self.norm1(x + self.attention(x, memory))
        return self.norm2(x + self.ffn(x))


class Seq2Seq(nn.HybridBlock):
    """Encoder-decoder taking two inputs; source, target and output embeddings tied, as in
    shared-vocabulary translation models."""

    def __init__(self, vocab=12, units=8, **kwargs):
        super().__init__(**kwargs)
        with self.name_scope():
            self.embed = nn.Embedding(vocab, units)
            self.encoder = TransformerLayer(units)
            self.decoder = TransformerLayer(units)
            self.target_embed = nn.Embedding(vocab, units, params=self.embed.params)
            self.proj = nn.Dense(vocab, flatten=False, in_units=units, use_bias=False,
                                 params=self.embed.params)

    def hybrid_forward(self, F, src, tgt):
        src_h = self.embed(src)
        memory = self.encoder(src_h, src_h)
        return self.proj(self.decoder(self.target_embed(tgt), memory))


class PositionEncoder(nn.HybridBlock):
    """Token embedding plus a sinusoidal position table kept as a ``gluon.Constant`` (as the
    position embedding of autogluon's ``TransformerNMTModel``), made in the current mode."""

    def __init__(self, vocab=12, units=4, max_length=6, **kwargs):
        super().__init__(**kwargs)
        pos = onp.arange(max_length)[:, None] / 10000 ** (onp.arange(units)[None, :] / units)
        table = onp.where(onp.arange(units) % 2 == 0, onp.sin(pos), onp.cos(pos)).astype("float32")
        with self.name_scope():
            self.embed = nn.Embedding(vocab, units)
            self.position = self.params.get_constant(
                "position", mx.np.array(table) if is_np_array() else mx.nd.array(table))
            self.proj = nn.Dense(vocab, flatten=False, in_units=units)

    def hybrid_forward(self, F, tokens, position):
        h = self.embed(tokens)  # (batch, 5, units): the first 5 rows of the table
        if is_np_array():
            return self.proj(h + position[:5])
        return self.proj(F.broadcast_add(h, F.slice_axis(position, axis=0, begin=0, end=5)))


class LanguageModel(nn.Block):
    """Embedding -> LSTM -> Dense whose weight is the embedding's (tied input/output)."""

    def __init__(self, vocab=20, units=8, **kwargs):
        super().__init__(**kwargs)
        with self.name_scope():
            self.encoder = nn.Embedding(vocab, units)
            self.rnn = rnn.LSTM(units, num_layers=2, input_size=units)
            self.decoder = nn.Dense(vocab, flatten=False, in_units=units,
                                    params=self.encoder.params)

    def forward(self, x):
        return self.decoder(self.rnn(self.encoder(x)))


def _tokens(shape, vocab):
    data = mx.nd.arange(shape[0] * shape[1]).reshape(shape) % vocab
    return data.as_np_ndarray() if is_np_array() else data


def _mode():
    return "np" if is_np_array() else "nd"


# --------------------------------------------------------------------------- builders

def zoo_small():
    """One small member of each model-zoo family, initialized with a forward, and its input."""
    tiny = {
        "resnet_v1": (lambda: vision.ResNetV1(vision.BasicBlockV1, [1, 1, 1, 1],
                                              [8, 8, 16, 32, 64], classes=10, thumbnail=True),
                      (1, 3, 32, 32)),
        "resnet_v2": (lambda: vision.ResNetV2(vision.BottleneckV2, [1, 1, 1, 1],
                                              [8, 16, 32, 64, 128], classes=10, thumbnail=True),
                      (1, 3, 32, 32)),
        "densenet": (lambda: vision.DenseNet(8, 4, [2, 2, 2, 2], classes=10), (1, 3, 224, 224)),
        "mobilenet": (lambda: vision.MobileNet(0.25, classes=10), (1, 3, 32, 32)),
        "mobilenet_v2": (lambda: vision.MobileNetV2(0.25, classes=10), (1, 3, 32, 32)),
        "squeezenet": (lambda: vision.SqueezeNet("1.1", classes=10), (1, 3, 224, 224)),
        "vgg_bn": (lambda: vision.VGG([1, 1, 1, 1, 1], [8, 8, 16, 16, 16], batch_norm=True,
                                      classes=10), (1, 3, 32, 32)),
        "inception_v3": (lambda: vision.inception_v3(classes=10), (1, 3, 299, 299)),
    }
    return {name: (lambda make=make, shape=shape: _built(make, [array(shape, _mode())]))
            for name, (make, shape) in tiny.items()}


def _built(make, inputs):
    with fresh_names():
        net = make()
    return net, inputs


def recurrent():
    """MXNet's recurrent layers (fused, with their own keys) and the cell API."""
    def lm_stack(hybridize):
        def build():
            with fresh_names():
                net = nn.HybridSequential()
                net.add(nn.Embedding(10, 4), rnn.LSTM(8, num_layers=2, bidirectional=True),
                        nn.Dense(3, flatten=False))
            if hybridize:
                net.hybridize()
            return net, [_tokens((5, 2), 10)]
        return build

    def gru_in_sequential():
        with fresh_names():
            net = nn.Sequential()
            net.add(rnn.GRU(6, num_layers=2, input_size=3), nn.Dense(2, flatten=False))
        return net, [array((4, 2, 3), _mode())]

    def plain(layer, shape):
        def build():
            with fresh_names():
                net = layer()
            return net, [array(shape, _mode())]
        return build

    def cells(make):
        def build():
            with fresh_names():
                net = make()
            return net, None
        return build

    def sequential_cell(kind):
        def make():
            seq = kind()
            seq.add(rnn.LSTMCell(4, input_size=3))
            seq.add(rnn.GRUCell(4, input_size=4))
            seq.add(rnn.ResidualCell(rnn.RNNCell(4, input_size=4)))
            return seq
        return make

    return {
        "lstm_bidir_hybrid_sequential": lm_stack(False),
        "lstm_bidir_hybridized": lm_stack(True),
        "gru_2layer_sequential": gru_in_sequential,
        "rnn_relu_bidir": plain(lambda: rnn.RNN(5, activation="relu", bidirectional=True,
                                                input_size=3), (4, 2, 3)),
        "lstm_projection": plain(lambda: rnn.LSTM(6, projection_size=3, input_size=3), (4, 2, 3)),
        "lstm_cell": cells(lambda: rnn.LSTMCell(4, input_size=3)),
        "sequential_rnn_cell": cells(sequential_cell(rnn.SequentialRNNCell)),
        "hybrid_sequential_rnn_cell": cells(sequential_cell(rnn.HybridSequentialRNNCell)),
        "residual_cell": cells(lambda: rnn.ResidualCell(rnn.GRUCell(3, input_size=3))),
        "bidirectional_cell": cells(lambda: rnn.BidirectionalCell(
            rnn.LSTMCell(3, input_size=3), rnn.LSTMCell(3, input_size=3))),
    }


def contrib():
    """``gluon.contrib.nn`` blocks: concurrent branches, identity, pixel shuffle, sync BN."""
    def build():
        with fresh_names():
            net = nn.HybridSequential()
            branches = cnn.HybridConcurrent(axis=1)
            branches.add(nn.Conv2D(4, 3, padding=1, in_channels=4), cnn.Identity(),
                         nn.Conv2D(8, 1, in_channels=4))  # 4 + 4 + 8 = 16 channels
            net.add(branches, cnn.PixelShuffle2D(2), cnn.SyncBatchNorm(in_channels=4, num_devices=1))
        return net, [array((1, 4, 4, 4), _mode())]
    return {"contrib_concurrent_shuffle_syncbn": build}


def ecosystem():
    """Blocks written for the test: a tied language model, a seq2seq with its own key scheme."""
    def lm():
        with fresh_names():
            net = LanguageModel()
        return net, [_tokens((5, 2), 20)]

    def seq2seq(hybridize):
        def build():
            with fresh_names():
                net = Seq2Seq()
            if hybridize:
                net.hybridize()
            return net, [_tokens((2, 5), 12), _tokens((2, 4), 12)]
        return build

    def position_encoder():
        with fresh_names():
            net = PositionEncoder()
        return net, [_tokens((2, 5), 12)]

    return {"tied_language_model": lm, "seq2seq_own_keys": seq2seq(False),
            "seq2seq_own_keys_hybridized": seq2seq(True), "constant_position_encoder": position_encoder}


CORPUS = {**zoo_small(), **recurrent(), **contrib(), **ecosystem()}

# What each model ties: the Gluon keys of its shared Parameters (canonical first).
TIES = {
    "tied_language_model": [("encoder.weight", "decoder.weight")],
    "seq2seq_own_keys": [("embed.weight", "target_embed.weight", "proj.weight")],
    "seq2seq_own_keys_hybridized": [("embed.weight", "target_embed.weight", "proj.weight")],
}
