"""Both sides of a bridge read the same way: a list of layers in forward order.

A *layer* is a block (Gluon) or module (PyTorch) that holds Parameters (or buffers) of its
own. Each is described by its kind (``conv``, ``dense``, ``batchnorm``, ``lstm``...), its
values by *role* (``weight``, ``bias``, ``mean``, ``var``: the role table of
:func:`~gluon_params_kit.checkpoint.split_key`, so Gluon's ``gamma``/``running_mean`` and
PyTorch's ``weight``/``running_mean`` name the same thing; recurrent layers by
``l0.i2h_weight``-style roles) and the settings that change outputs (eps, stride,
padding...). Given example inputs, the layers come in the order of a traced forward pass
(pre-hooks on both sides: the order of first calls), with each call's output recorded;
without, in registration order.

The Gluon pass runs every HybridBlock imperatively (hooks fire in each child) in predict
mode, and a PyTorch module runs in eval mode under ``no_grad``; both are put back as they
were afterwards (cached graphs, training flags, deferred Parameters), also on error.

Private: used by the other modules of :mod:`gluon_params_kit.interop`.
"""
from __future__ import annotations

import re
import sys
from collections import OrderedDict
from typing import Any, Dict, List, Optional, Sequence, Tuple

import numpy as onp

from .._core.compat import gluon, is_np_array, mx
from .._core.gluon import arrays, is_deferred, restore_fields, save_fields, zero_deferred
from .._core.validate import shown
from ..checkpoint import split_key
from ..errors import CheckpointError, CheckpointTypeError
from ..tree import named_blocks, named_parameters

__all__ = ["Layer", "Trace", "as_numpy", "check_inputs", "describe_inputs", "flat_outputs", "forward_error",
           "gluon_layers", "state_dict_layers", "torch_layers"]

_HYBRID_STATE = ("_active", "_cached_graph", "_cached_op", "_cached_op_args", "_in_format",
                 "_out_format")
_PARAM_STATE = ("_data", "_grad", "_deferred_init", "_shape", "_ctx_list", "_ctx_map")

#: PyTorch's recurrent parameter names: weight_ih_l0, bias_hh_l1_reverse.
_TORCH_RNN = re.compile(r"^(weight|bias)_(ih|hh)_l(\d+)(_reverse)?$")
#: Gluon's recurrent keys below the layer: _unfused.0.l_cell.i2h_weight, _unfused.0.h2h_bias.
_GLUON_RNN = re.compile(r"^_unfused\.(\d+)\.(?:(l|r)_cell\.)?(i2h|h2h)_(weight|bias)$")


class Layer:
    """One layer of one side: ``path`` (Gluon path or ``state_dict`` prefix), ``kind``,
    ``roles`` (role -> (key, shape)), ``settings`` and ``obj`` (the block or module)."""

    def __init__(self, path: str, kind: str, obj: Any = None):
        self.path = path
        self.kind = kind
        self.obj = obj
        self.roles: "OrderedDict[str, Tuple[str, Tuple[int, ...]]]" = OrderedDict()
        self.settings: Dict[str, Any] = {}

    def signature(self) -> str:
        """``conv weight (8, 3, 3, 3), bias (8,)``: what the pairing compares."""
        parts = [f"{r} {tuple(s)}" for r, (_, s) in self.roles.items() if r != "count"]
        return f"{self.kind} " + ", ".join(parts)

    def __repr__(self) -> str:
        return f"Layer({self.path!r}, {self.signature()})"


class Trace:
    """The layers of one side, in order, and what one forward pass showed: ``outputs``
    (layer path -> one list of arrays per call) and ``final`` (the net's outputs)."""

    def __init__(self, layers: List[Layer], outputs: Optional[Dict[str, List[List[onp.ndarray]]]] = None,
                 final: Optional[List[onp.ndarray]] = None, traced: bool = False):
        self.layers = layers
        self.outputs = outputs or {}
        self.final = final
        self.traced = traced


def as_numpy(x: Any) -> onp.ndarray:
    """An MXNet, PyTorch or numpy array as a numpy array (a copy where the source may change)."""
    if isinstance(x, onp.ndarray):
        return x
    if hasattr(x, "asnumpy"):
        return x.asnumpy()
    if hasattr(x, "detach"):
        return x.detach().cpu().numpy().copy()
    return onp.asarray(x)


def _is_torch_tensor(x: Any) -> bool:
    torch = sys.modules.get("torch")  # a tensor exists only where torch was imported
    return torch is not None and isinstance(x, torch.Tensor)


def check_inputs(inputs: Sequence[Any], where: str, name: str = "inputs") -> None:
    """Each input an array both sides can take (an ``mx.nd.NDArray``, ``mx.np.ndarray``,
    numeric numpy array or torch tensor); else a :class:`CheckpointTypeError` naming it."""
    for i, x in enumerate(inputs):
        numeric = isinstance(x, onp.ndarray) and x.dtype.kind in "biuf"
        if not (numeric or isinstance(x, mx.nd.NDArray) or _is_torch_tensor(x)):
            raise CheckpointTypeError(
                f"{where}: {name}[{i}] must be an array (mx.nd.NDArray, mx.np.ndarray, a numeric numpy array "
                f"or a torch.Tensor), like mx.nd.ones((2, 5)); got {shown(x)}")


def describe_inputs(inputs: Sequence[Any]) -> str:
    """``mx.nd.NDArray of shape (2, 3) float32, ...``: the inputs as an error message names
    them (whose array each is: MXNet's and numpy's are both called ``ndarray``)."""
    def one(x: Any) -> str:
        if isinstance(x, mx.nd.NDArray):
            kind = "mx.np.ndarray" if isinstance(x, mx.np.ndarray) else "mx.nd.NDArray"
        else:
            kind = "numpy.ndarray" if isinstance(x, onp.ndarray) else "torch.Tensor" if _is_torch_tensor(x) else ""
        text = shown(x)
        return f"{kind}{text[text.index(' of shape'):]}" if kind and " of shape" in text else text
    return ", ".join(one(x) for x in inputs) or "no input"


def forward_error(where: str, side: str, inputs: Sequence[Any], exc: BaseException) -> CheckpointError:
    """The kit's error for a forward pass that failed on the user's net or inputs."""
    name = type(exc).__name__
    text = str(exc).strip()
    text = text[len(name) + 2:] if text.startswith(f"{name}: ") else text  # MXNet repeats its class name
    return CheckpointError(f"{where}: the forward pass of {side} on the inputs ({describe_inputs(inputs)}) "
                           f"failed ({name}: {text}); nothing was changed")


def flat_outputs(out: Any) -> List[onp.ndarray]:
    """A (nested) tuple or list of outputs as a flat list of numpy arrays."""
    if isinstance(out, (list, tuple)):
        return [a for o in out for a in flat_outputs(o)]
    if out is None:
        return []
    return [as_numpy(out)]


# --------------------------------------------------------------------------- Gluon

def _gluon_kind(blk: Any) -> Tuple[str, Dict[str, Any]]:
    nn, rnn = gluon.nn, gluon.rnn
    kw = dict(getattr(blk, "_kwargs", {}) or {})
    act = getattr(getattr(blk, "act", None), "_act_type", None)
    if isinstance(blk, rnn.rnn_layer._RNNLayer):
        mode = blk._mode
        return ("rnn" if mode.startswith("rnn") else mode), {
            "mode": mode, "hidden_size": blk._hidden_size, "num_layers": blk._num_layers,
            "bidirectional": blk._dir == 2, "batch_first": blk._layout == "NTC",
            "projection": getattr(blk, "_projection_size", None)}
    if isinstance(blk, nn.BatchNorm):
        return "batchnorm", {"eps": float(kw["eps"]), "momentum": float(kw["momentum"]),
                             "use_global_stats": bool(kw["use_global_stats"]), "axis": kw["axis"],
                             "ignores_gamma": bool(kw["fix_gamma"])}
    if isinstance(blk, (nn.Conv1D, nn.Conv2D, nn.Conv3D, nn.Conv1DTranspose, nn.Conv2DTranspose,
                        nn.Conv3DTranspose)):
        transposed = blk._op_name == "Deconvolution"
        out = {"stride": tuple(kw["stride"]), "padding": tuple(kw["pad"]), "dilation": tuple(kw["dilate"]),
               "groups": int(kw["num_group"]), "activation": act, "layout": kw.get("layout")}
        if transposed:
            out["output_padding"] = tuple(kw.get("adj") or (0,) * len(kw["stride"]))
        return ("deconv" if transposed else "conv") + str(len(kw["kernel"])) + "d", out
    if isinstance(blk, nn.Dense):
        return "dense", {"activation": act}
    if isinstance(blk, nn.LayerNorm):
        return "layernorm", {"eps": float(kw["eps"]), "axis": kw["axis"]}
    if isinstance(blk, nn.GroupNorm):
        return "groupnorm", {"eps": float(kw["eps"]), "groups": kw["num_groups"]}
    if isinstance(blk, nn.InstanceNorm):
        return "instancenorm", {"eps": float(kw["eps"]), "axis": kw["axis"]}
    if isinstance(blk, nn.Embedding):
        return "embedding", {}
    if isinstance(blk, nn.PReLU):
        return "prelu", {}
    return "other:" + type(blk).__name__, {}


def _gluon_role(kind: str, rel: str, key: str) -> str:
    if kind in ("lstm", "gru", "rnn"):
        m = _GLUON_RNN.match(rel)
        if m:
            return f"{'r' if m.group(2) == 'r' else 'l'}{m.group(1)}.{m.group(3)}_{m.group(4)}"
    if kind == "prelu" and rel == "alpha":
        return "weight"
    role = split_key(key)[2]
    return role or rel


def _layers_of_net(net: Any, shapes: Optional[Dict[int, Tuple[int, ...]]] = None) -> List[Layer]:
    """Gluon layers in registration order; ``shapes``: id(param) -> shape a pass inferred."""
    keys = {id(p): k for k, p in named_parameters(net).items()}
    rank = {pid: i for i, pid in enumerate(keys)}
    taken = set()
    layers: List[Layer] = []
    for path, blk in named_blocks(net).items():
        own = [p for p in blk._reg_params.values() if id(p) in keys and id(p) not in taken]
        if not own:
            continue
        kind, settings = _gluon_kind(blk)
        layer = Layer(path, kind, blk)
        layer.settings = settings
        prefix = f"{path}." if path else ""
        for p in sorted(own, key=lambda q: rank[id(q)]):
            taken.add(id(p))
            key = keys[id(p)]
            rel = key[len(prefix):] if key.startswith(prefix) else key
            shape = (shapes or {}).get(id(p)) or _shape(p)
            layer.roles[_gluon_role(kind, rel, key)] = (key, shape)
        layers.append(layer)
    return layers


def _shape(param: Any) -> Tuple[int, ...]:
    held = arrays(param)
    if held:  # a SymbolBlock's Parameters may hold values and no shape
        return tuple(int(d) for d in held[0].shape)
    return tuple(int(d) for d in param.shape or ())


def _symbolic(out: Any) -> bool:
    if isinstance(out, (list, tuple)):
        return any(_symbolic(o) for o in out)
    return isinstance(out, mx.sym.Symbol)


def gluon_layers(net: Any, inputs: Sequence[Any] = (), *, record: bool = False,
                 where: str = "gluon_layers") -> Trace:
    """The layers of a Gluon net: in forward order when ``inputs`` are given (and, with
    ``record``, each call's outputs and the net's), else in registration order.

    Nothing in ``net`` changes: a deferred Parameter is completed with zeros for the pass
    and put back; hybridized blocks run imperatively and get their cached graphs back. A
    pass that fails is a :class:`CheckpointError` that says so (``where``: the caller).
    """
    if not inputs:
        return Trace(_layers_of_net(net))
    array = mx.np.array if is_np_array() else mx.nd.array
    given = list(inputs)
    inputs = [x if isinstance(x, mx.nd.NDArray) else array(as_numpy(x), dtype=as_numpy(x).dtype)
              for x in inputs]  # numpy arrays and torch tensors, as the mode's arrays
    blocks = named_blocks(net)
    order: List[str] = []
    outputs: Dict[str, List[List[onp.ndarray]]] = {}
    handles = []
    saved_blocks = save_fields(blocks.values(), _HYBRID_STATE, lambda b: isinstance(b, gluon.HybridBlock))
    params = {id(p): p for p in named_parameters(net).values()}
    saved_params = save_fields(params.values(), _PARAM_STATE)
    shapes: Dict[int, Tuple[int, ...]] = {}
    try:
        for path, blk in blocks.items():
            if blk._reg_params:
                handles.append(blk.register_forward_pre_hook(_gluon_pre(order, path)))
                if record:
                    handles.append(blk.register_forward_hook(_gluon_post(outputs, path)))
            if isinstance(blk, gluon.HybridBlock):
                blk._active = False
        deferred = [p for p in params.values() if is_deferred(p)]
        for p in deferred:
            zero_deferred(p)
        try:
            with mx.autograd.pause(train_mode=False):
                final = net(*inputs)
            final_arrays = flat_outputs(final) if record else None
        except Exception as exc:  # the user's net or inputs: the kit's error, state put back below
            raise forward_error(where, f"Gluon {type(net).__name__} {net.name!r}", given, exc) from exc
        for p in deferred:
            shapes[id(p)] = tuple(int(d) for d in p.shape)
        layers = _layers_of_net(net, shapes)
    finally:
        for h in handles:
            h.detach()
        restore_fields(saved_blocks)
        restore_fields(saved_params)
    return Trace(_in_order(layers, order), outputs, final_arrays, traced=True)


def _gluon_pre(order: List[str], path: str):
    def hook(_block, _inputs):
        if path not in order and not _symbolic(_inputs):
            order.append(path)
    return hook


def _gluon_post(outputs: Dict[str, List[List[onp.ndarray]]], path: str):
    def hook(_block, _inputs, out):
        if not _symbolic(out):
            outputs.setdefault(path, []).append(flat_outputs(out))
    return hook


def _in_order(layers: List[Layer], order: List[str]) -> List[Layer]:
    """Layers called in the pass by their first call; the others after, as registered."""
    rank = {p: i for i, p in enumerate(order)}
    return sorted(layers, key=lambda lay: (0, rank[lay.path]) if lay.path in rank else (1, 0))


# --------------------------------------------------------------------------- PyTorch

def _torch_kind(mod: Any) -> Tuple[str, Dict[str, Any]]:
    import torch.nn as tnn
    if isinstance(mod, (tnn.LSTM, tnn.GRU, tnn.RNN)):
        mode = {tnn.LSTM: "lstm", tnn.GRU: "gru"}.get(type(mod), "rnn_" + getattr(mod, "nonlinearity", "tanh"))
        return ("rnn" if mode.startswith("rnn") else mode), {
            "mode": mode, "hidden_size": mod.hidden_size, "num_layers": mod.num_layers,
            "bidirectional": mod.bidirectional, "batch_first": mod.batch_first,
            "projection": getattr(mod, "proj_size", 0) or None}
    if isinstance(mod, tnn.modules.batchnorm._BatchNorm):
        return "batchnorm", {"eps": float(mod.eps), "momentum": mod.momentum,
                             "track_running_stats": mod.track_running_stats, "affine": mod.affine}
    if isinstance(mod, tnn.modules.conv._ConvNd):
        n = len(mod.kernel_size)
        out = {"stride": tuple(mod.stride), "padding": mod.padding if isinstance(mod.padding, str)
               else tuple(mod.padding), "dilation": tuple(mod.dilation), "groups": int(mod.groups),
               "padding_mode": mod.padding_mode}
        if mod.transposed:
            out["output_padding"] = tuple(mod.output_padding)
        return ("deconv" if mod.transposed else "conv") + f"{n}d", out
    if isinstance(mod, tnn.Linear):
        return "dense", {}
    if isinstance(mod, tnn.LayerNorm):
        return "layernorm", {"eps": float(mod.eps), "normalized_shape": tuple(mod.normalized_shape)}
    if isinstance(mod, tnn.GroupNorm):
        return "groupnorm", {"eps": float(mod.eps), "groups": mod.num_groups}
    if isinstance(mod, tnn.modules.instancenorm._InstanceNorm):
        return "instancenorm", {"eps": float(mod.eps)}
    if isinstance(mod, tnn.Embedding):
        return "embedding", {}
    if isinstance(mod, tnn.PReLU):
        return "prelu", {}
    return "other:" + type(mod).__name__, {}


def _torch_role(kind: str, name: str, key: str) -> str:
    m = _TORCH_RNN.match(name)
    if m and kind in ("lstm", "gru", "rnn", "state_dict"):
        side = "r" if m.group(4) else "l"
        return f"{side}{m.group(3)}.{'i2h' if m.group(2) == 'ih' else 'h2h'}_{m.group(1)}"
    if name == "num_batches_tracked":
        return "count"
    return split_key(key)[2] or name


def _torch_layers_of(module: Any) -> List[Layer]:
    layers: List[Layer] = []
    seen = set()
    for path, mod in module.named_modules():
        own = [(n, t) for n, t in list(mod.named_parameters(recurse=False)) + list(mod.named_buffers(recurse=False))
               if t is not None and id(t) not in seen]
        if not own:
            continue
        kind, settings = _torch_kind(mod)
        layer = Layer(path, kind, mod)
        layer.settings = settings
        for n, t in own:
            seen.add(id(t))
            key = f"{path}.{n}" if path else n
            layer.roles[_torch_role(kind, n, key)] = (key, tuple(t.shape))
        layers.append(layer)
    return layers


def torch_layers(module: Any, inputs: Sequence[Any] = (), *, record: bool = False,
                 where: str = "torch_layers") -> Trace:
    """The layers of a PyTorch module, in forward order when ``inputs`` are given (eval
    mode, no_grad; training flags put back afterwards), else in registration order. A
    pass that fails is a :class:`CheckpointError` that says so (``where``: the caller)."""
    import torch
    layers = _torch_layers_of(module)
    if not inputs:
        return Trace(layers)
    order: List[str] = []
    outputs: Dict[str, List[List[onp.ndarray]]] = {}
    handles = []
    flags = [(m, m.training) for m in module.modules()]
    by_path = {lay.path: lay.obj for lay in layers}
    try:
        for path, mod in by_path.items():
            handles.append(mod.register_forward_pre_hook(_torch_pre(order, path)))
            if record:
                handles.append(mod.register_forward_hook(_torch_post(outputs, path)))
        module.eval()
        try:
            with torch.no_grad():
                final = module(*[torch.from_numpy(onp.array(as_numpy(x), order="C")) for x in inputs])
            final_arrays = flat_outputs(final) if record else None
        except Exception as exc:  # the user's module or inputs: the kit's error, flags put back below
            raise forward_error(where, f"PyTorch {type(module).__name__}", inputs, exc) from exc
    finally:
        for h in handles:
            h.remove()
        for m, flag in flags:
            m.training = flag
    return Trace(_in_order(layers, order), outputs, final_arrays, traced=True)


def _torch_pre(order: List[str], path: str):
    def hook(_module, _inputs):
        if path not in order:
            order.append(path)
    return hook


def _torch_post(outputs: Dict[str, List[List[onp.ndarray]]], path: str):
    def hook(_module, _inputs, out):  # a copy now: an in-place ReLU may change it next
        outputs.setdefault(path, []).append(flat_outputs(out))
    return hook


def state_dict_layers(state: Any) -> List[Layer]:
    """A bare ``state_dict``'s layers: keys grouped by layer (the role table), kinds from
    the roles and shapes (``bn`` for running statistics, ``conv``/``dense`` by rank), in
    the dict's order. Settings are unknown."""
    units: "OrderedDict[str, Layer]" = OrderedDict()
    for key, value in state.items():
        layer_path, suffix, role = split_key(key)
        name = key.rpartition(".")[2]
        if _TORCH_RNN.match(name):
            layer_path, role = key.rpartition(".")[0], _torch_role("state_dict", name, key)
        elif name == "num_batches_tracked":
            layer_path, role = key.rpartition(".")[0], "count"
        layer = units.setdefault(layer_path, Layer(layer_path, "state_dict"))
        layer.roles[role or suffix] = (key, tuple(value.shape))
    for layer in units.values():
        roles = set(layer.roles)
        if {"mean", "var"} <= roles:
            layer.kind = "batchnorm"
        elif any(_GATE.match(r) for r in roles):
            layer.kind = "recurrent"
        elif "weight" in roles and len(layer.roles["weight"][1]) >= 3:
            layer.kind = f"conv{len(layer.roles['weight'][1]) - 2}d"
        elif "weight" in roles and len(layer.roles["weight"][1]) == 2:
            layer.kind = "matrix"  # Linear or Embedding: a bare state_dict cannot tell
    return list(units.values())


_GATE = re.compile(r"^[lr]\d+\.(i2h|h2h)_(weight|bias)$")
