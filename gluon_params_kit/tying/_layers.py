"""Tied layers' parts: :class:`TransposedDense` and recovering a layer's constructor arguments.

Gluon 1.9 shares parameters only through ``params=other.params`` at construction, so the
user has to repeat every constructor argument; :func:`constructor_args` recovers them from
the layer, for :func:`gluon_params_kit.tying.tied_copy`. Re-exported by
:mod:`gluon_params_kit.tying`; import the public names from there.
"""
from __future__ import annotations

import inspect
from typing import Any, Callable, Dict, List, Optional, Tuple, Union

from .._core.compat import gluon, is_np_array, mx
from .._core.types import Block, HybridBlock, Parameter
from .._core.validate import check_bool, shown
from ..errors import TieError, TieTypeError, listing

__all__ = ["TransposedDense", "constructor_args"]

nn = gluon.nn
_Conv = nn.conv_layers._Conv
_BatchNorm = nn.basic_layers._BatchNorm


# --------------------------------------------------------------------------- transposed tying

class TransposedDense(HybridBlock):
    """An output layer computing ``x @ W.T (+ bias)`` with an Embedding's weight ``W``.

    Language models tie the input embedding (``vocab x dim``) to the output layer:
    ``W`` is the one Parameter both use, so its gradient sums both uses. The layer
    owns only its optional bias. Works imperatively, hybridized, in nd and np modes.

    Args:
        embedding: An ``nn.Embedding`` (or any block with a 2-D ``weight``), or the
            weight ``Parameter`` itself. Its first dimension (the vocabulary) must be known.
        use_bias: Whether the layer has its own bias of shape ``(vocab,)``.
        flatten: As in ``nn.Dense``: flatten all but the first input axis. Default
            ``False``, so ``(batch, time, dim)`` maps to ``(batch, time, vocab)``.
        bias_initializer: Initializer of the bias.
        **kwargs: ``prefix`` / ``params`` as for any Gluon block.

    Raises:
        TieTypeError: ``embedding`` is neither a Parameter nor a block with a ``weight``.
        TieError: ``embedding``'s weight is not 2-D, has an unknown vocabulary size, or a
            row-sparse gradient (``sparse_grad=True``), which a dense use cannot share.

    Examples:
        >>> from mxnet.gluon import nn
        >>> emb = nn.Embedding(10, 4)
        >>> head = TransposedDense(emb)
        >>> head.weight is emb.weight, head.bias.shape
        (True, (10,))
    """

    def __init__(self, embedding: Union[Block, Parameter], use_bias: bool = True,
                 flatten: bool = False, bias_initializer: Any = "zeros", **kwargs):
        check_bool(use_bias, "use_bias", TieError, where="TransposedDense")
        check_bool(flatten, "flatten", TieError, where="TransposedDense")
        unknown = sorted(set(kwargs) - {"prefix", "params"})
        if unknown or not isinstance(kwargs.get("prefix"), (str, type(None))):
            raise TieTypeError(f"TransposedDense takes prefix= (None or a str) and params= as any Gluon block; "
                               f"got {listing(unknown) if unknown else 'prefix=' + shown(kwargs['prefix'])}")
        if not isinstance(bias_initializer, (str, mx.init.Initializer, type(None))):
            raise TieTypeError(f"TransposedDense: bias_initializer must be an initializer name like 'zeros' "
                               f"or an mx.init.Initializer, got {shown(bias_initializer)}")
        if isinstance(bias_initializer, str):
            try:  # as Gluon will at initialize(): an unknown name fails here, not there
                mx.init.create(bias_initializer)
            except Exception as exc:
                raise TieError(f"TransposedDense: bias_initializer {bias_initializer!r} is no MXNet "
                               f"initializer ({exc})") from None
        weight = _embedding_weight(embedding)
        super().__init__(**kwargs)
        self._units = weight.shape[0]
        self._flatten = flatten
        # Listed in our own ParameterDict too, so collect_params and summary() see it.
        self._params._params.setdefault(weight.name, weight)
        self.weight = weight
        with self.name_scope():
            self.bias = (self.params.get("bias", shape=(self._units,), init=bias_initializer,
                                         dtype=weight.dtype, allow_deferred_init=True)
                         if use_bias else None)

    def hybrid_forward(self, F, x, weight, bias=None):
        fc = F.npx.fully_connected if is_np_array() else F.FullyConnected
        return fc(x, weight, bias, no_bias=bias is None, num_hidden=self._units,
                  flatten=self._flatten, name="fwd")

    def __repr__(self) -> str:
        dim = self.weight.shape[1] or None
        return (f"{type(self).__name__}({dim} -> {self._units}, tied to "
                f"{self.weight.name!r}, bias={self.bias is not None})")


def _embedding_weight(embedding) -> Parameter:
    weight = embedding if isinstance(embedding, Parameter) else getattr(embedding, "weight", None)
    if not isinstance(weight, Parameter):
        raise TieTypeError(f"embedding must be an nn.Embedding (or a block with a `weight` "
                           f"Parameter) or a Parameter, got {type(embedding).__name__}")
    shape: Tuple[int, ...] = weight.shape or ()  # None while unknown
    if len(shape) != 2 or not shape[0] or shape[0] < 0:
        raise TieError(f"embedding weight {weight.name!r} must be 2-D (vocab, dim) with a "
                       f"known vocab size, got shape {shape}")
    if weight._grad_stype != "default":
        raise TieError(f"embedding weight {weight.name!r} has a {weight._grad_stype} gradient "
                       f"(sparse_grad=True); a tied output layer needs a dense gradient: "
                       f"build the Embedding with sparse_grad=False")
    return weight


# --------------------------------------------------------------------------- builders

def _activation(layer) -> Optional[str]:
    act = getattr(layer, "act", None)
    return act._act_type if act is not None else None


def _init_of(param: Optional[Parameter], default: Any = None) -> Any:
    return param.init if param is not None and param.init is not None else default


def _known(param: Parameter, axis: int) -> int:
    """A dimension of ``param`` as a constructor wants it: 0 while deferred (-1 in np mode)."""
    return max(param.shape[axis], 0)


def _dense_args(layer) -> Dict[str, Any]:
    return dict(units=layer._units, activation=_activation(layer), use_bias=layer.bias is not None,
                flatten=layer._flatten, dtype=layer.weight.dtype,
                weight_initializer=_init_of(layer.weight),
                bias_initializer=_init_of(layer.bias, "zeros"), in_units=_known(layer.weight, 1))


def _conv_args(layer) -> Dict[str, Any]:
    kw = layer._kwargs
    args = dict(channels=layer._channels, kernel_size=kw["kernel"], strides=kw["stride"],
                padding=kw["pad"], dilation=kw["dilate"], groups=kw["num_group"],
                layout=kw["layout"], activation=_activation(layer), use_bias=not kw["no_bias"],
                weight_initializer=_init_of(layer.weight),
                bias_initializer=_init_of(layer.bias, "zeros"), in_channels=layer._in_channels)
    if "adj" in kw:
        args["output_padding"] = kw["adj"]
    return args


def _norm_args(layer) -> Dict[str, Any]:
    kw = getattr(layer, "_kwargs", {})
    center = kw.get("center", getattr(layer, "_center", layer.beta._differentiable))
    scale = kw.get("scale", getattr(layer, "_scale", layer.gamma._differentiable))
    args = dict(axis=kw.get("axis", getattr(layer, "_axis", None)),
                epsilon=kw.get("eps", getattr(layer, "_epsilon", None)),
                center=center, scale=scale,
                beta_initializer=_init_of(layer.beta, "zeros"),
                gamma_initializer=_init_of(layer.gamma, "ones"), in_channels=_known(layer.gamma, 0))
    if isinstance(layer, _BatchNorm):  # BatchNorm, BatchNormReLU
        args.update(scale=not kw["fix_gamma"], momentum=kw["momentum"], use_global_stats=kw["use_global_stats"],
                    running_mean_initializer=_init_of(layer.running_mean, "zeros"),
                    running_variance_initializer=_init_of(layer.running_var, "ones"))
    if hasattr(layer, "_num_groups"):
        args["num_groups"] = layer._num_groups
    return args


def _embedding_args(layer) -> Dict[str, Any]:
    return dict(layer._kwargs, weight_initializer=_init_of(layer.weight))


def _activation_args(layer) -> Dict[str, Any]:
    return dict(activation=layer._act_type)


def _prelu_args(layer) -> Dict[str, Any]:
    return dict(alpha_initializer=_init_of(layer.alpha), in_channels=_known(layer.alpha, 0))


def _rnn_args(layer) -> Dict[str, Any]:
    """RNN/LSTM/GRU layers keep every argument, under names of their own."""
    return dict(hidden_size=layer._hidden_size, num_layers=layer._num_layers,
                layout=layer._layout, dropout=layer._dropout, bidirectional=layer._dir == 2,
                input_size=layer._input_size, dtype=layer._dtype,
                i2h_weight_initializer=layer._i2h_weight_initializer,
                h2h_weight_initializer=layer._h2h_weight_initializer,
                i2h_bias_initializer=layer._i2h_bias_initializer,
                h2h_bias_initializer=layer._h2h_bias_initializer,
                h2r_weight_initializer=layer._h2r_weight_initializer,
                projection_size=layer._projection_size,
                state_clip_min=layer._lstm_state_clip_min,
                state_clip_max=layer._lstm_state_clip_max,
                state_clip_nan=layer._lstm_state_clip_nan,
                use_sequence_length=layer._use_sequence_length,
                activation={"rnn_relu": "relu", "rnn_tanh": "tanh"}.get(layer._mode))


def _transposed_args(layer) -> Dict[str, Any]:
    return dict(embedding=layer.weight, use_bias=layer.bias is not None, flatten=layer._flatten,
                bias_initializer=_init_of(layer.bias, "zeros"))


_RECIPES: List[Tuple[type, Callable[[Block], Dict[str, Any]]]] = [
    (nn.Dense, _dense_args),
    (_Conv, _conv_args),  # every Conv*D and Conv*DTranspose
    (_BatchNorm, _norm_args),
    (nn.LayerNorm, _norm_args),
    (nn.InstanceNorm, _norm_args),
    (nn.GroupNorm, _norm_args),
    (nn.Embedding, _embedding_args),
    (TransposedDense, _transposed_args),
    (nn.Activation, _activation_args),
    (nn.PReLU, _prelu_args),
    (gluon.rnn.rnn_layer._RNNLayer, _rnn_args),  # RNN, LSTM, GRU
]
_SKIP_ARGS = {"self", "prefix", "params"}


def constructor_args(layer: Block, overrides: Dict[str, Any]) -> Dict[str, Any]:
    """The keyword arguments that rebuild ``layer``, kept to what its constructor accepts."""
    sig = inspect.signature(type(layer).__init__)
    named = {n: p for n, p in sig.parameters.items()
             if n not in _SKIP_ARGS and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)}
    takes_params = "params" in sig.parameters or any(
        p.kind == p.VAR_KEYWORD for p in sig.parameters.values())
    if not takes_params:
        raise TieError(f"{type(layer).__name__}'s constructor takes no `params=`, so it cannot "
                       f"build a tied copy; build one yourself and call tie(copy, layer)")
    unknown = sorted(set(overrides) - set(named))
    if unknown:
        raise TieError(f"{type(layer).__name__} takes no argument {listing(unknown)}; "
                       f"it takes: {listing(list(named), limit=20)}")
    recipe = next((fn for cls, fn in _RECIPES if isinstance(layer, cls)), None)
    if recipe is not None:
        args = {k: v for k, v in recipe(layer).items() if k in named}
    else:  # any block: an argument `x` kept as attribute `_x` or `x`
        args, missing = {}, []
        for name in named:
            for attr in (f"_{name}", name):
                if attr in layer.__dict__ and not isinstance(layer.__dict__[attr], (Block, Parameter)):
                    args[name] = layer.__dict__[attr]
                    break
            else:
                # `<p>_initializer` is recorded on Parameter `p` itself (RNN cells, ...)
                owner = layer._reg_params.get(name[:-len("_initializer")])
                if name.endswith("_initializer") and owner is not None:
                    args[name] = owner.init
                elif name not in overrides:
                    missing.append(name)
        if missing:
            raise TieError(
                f"cannot recover {type(layer).__name__}'s constructor argument(s) "
                f"{listing(missing)} from the layer (no attribute `_<arg>` or `<arg>`); "
                f"pass them: tied_copy(layer, {missing[0]}=...)")
    args.update(overrides)
    return args
