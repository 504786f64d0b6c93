"""Old symbol checkpoints (``prefix-symbol.json`` + ``prefix-NNNN.params``) into a structured
Gluon net, and the symbol attributes that change what the loaded net computes.

The graph is read as JSON (no mxnet): its parameterised operators (Convolution,
Deconvolution, FullyConnected, BatchNorm, Embedding, LeakyReLU with ``act_type='prelu'``,
InstanceNorm, LayerNorm, GroupNorm) in graph order, each with its attributes and the
variables it takes in each role (the operator's input order says which is the weight,
which the moving mean). The net's layers are walked in forward order (a traced forward
pass when an example input is given, else the order of the net's own graph from one
symbolic call of a HybridBlock, else registration order) and each takes the one symbol
layer that is ready (every parameterised layer upstream of it already paired) and fits:
the same operator, the same shape-defining attributes (kernel, filters, groups, units),
the file's shapes in each role, roles mapped by
:func:`~gluon_params_kit.checkpoint.split_key`'s table (gamma <-> a norm layer's weight,
moving_* <-> running_*), and, where the net's graph is known, the same input: the
nearest parameterised layers upstream, already paired (ResNet-50's stage-1 ``conv3`` and
shortcut have one shape; only their inputs differ). Two ready layers that fit equally are
a tie and nothing is paired: the refusal names the layers and says why, it never guesses.

:func:`symbol_notes` then names every attribute of the symbol that makes the Gluon net
compute something else with the same values: ``fix_gamma=True`` where the file's gamma
is not 1 (MXNet multiplies by 1), eps, momentum, ``use_global_stats``, axes, strides,
padding, ``no_bias`` against a layer with a bias.

Private: :func:`gluon_params_kit.checkpoint.load` calls it (``symbol=``, ``example=``,
``fix_gamma=``).
"""
from __future__ import annotations

import json
import math
import os
import re
from collections import OrderedDict
from typing import Any, Callable, Dict, FrozenSet, List, Mapping, NamedTuple, Optional, Sequence, Tuple

import numpy as onp

from .._core.compat import gluon, is_np_array, mx
from .._core.gluon import init_state
from .._core.types import Block
from .._core.validate import shown as _shown
from .._io.header import Header, file_keys_of
from ..errors import CheckpointError, CheckpointTypeError, listing
from ..tree import named_blocks, named_parameters
from ._load_report import brief_repr
from ._pairing import split_key
from ._remap import Remap

__all__ = ["FIX_GAMMA", "SymbolGraph", "SymbolLayer", "SymbolLoad", "SymbolNote", "apply_fix_gamma",
           "check_example", "find_symbol", "layer_pairs", "pair_with_net", "read_symbol", "symbol_notes"]

#: The ``fix_gamma=`` choices of :func:`~gluon_params_kit.checkpoint.load`.
FIX_GAMMA = (None, "ones")

#: Operator -> the roles of its inputs after the data, in the operator's input order.
OP_ROLES: Dict[str, Tuple[str, ...]] = {
    "Convolution": ("weight", "bias"),
    "Deconvolution": ("weight", "bias"),
    "FullyConnected": ("weight", "bias"),
    "BatchNorm": ("gamma", "beta", "moving_mean", "moving_var"),
    "Embedding": ("weight",),
    "LeakyReLU": ("gamma",),
    "InstanceNorm": ("gamma", "beta"),
    "LayerNorm": ("gamma", "beta"),
    "GroupNorm": ("gamma", "beta"),
}

#: Operator attributes MXNet 1.9.1 assumes when the JSON leaves them out.
DEFAULTS: Dict[str, Dict[str, str]] = {
    "Convolution": {"no_bias": "False", "num_group": "1"},
    "Deconvolution": {"no_bias": "True", "num_group": "1"},
    "FullyConnected": {"no_bias": "False", "flatten": "True"},
    "BatchNorm": {"eps": "0.001", "momentum": "0.9", "fix_gamma": "True",
                  "use_global_stats": "False", "axis": "1"},
    "LeakyReLU": {"act_type": "leaky"},
    "InstanceNorm": {"eps": "0.001"},
    "LayerNorm": {"eps": "1e-05", "axis": "-1"},
    "GroupNorm": {"eps": "1e-05", "num_groups": "1"},
}

#: Gluon parameter names outside the role table: PReLU's slope is the symbol's gamma.
EXTRA_ROLES = {"alpha": "weight"}


def _role(name: str) -> Optional[str]:
    """The role table's role of a parameter or input name (``moving_mean`` -> ``'mean'``)."""
    return split_key("_" + name)[2] or EXTRA_ROLES.get(name)


class SymbolLayer(NamedTuple):
    """One parameterised operator of the graph: ``params`` is symbol role -> variable name
    (``{'gamma': 'bn0_gamma', ...}``), ``upstream`` the indices (in :attr:`SymbolGraph.layers`)
    of the parameterised layers its data comes through, ``problem`` why it cannot be paired."""

    position: int
    name: str
    op: str
    attrs: Dict[str, str]
    params: Dict[str, str]
    upstream: FrozenSet[int]
    problem: Optional[str] = None

    def attr(self, key: str) -> Optional[str]:
        value = self.attrs.get(key)
        return DEFAULTS.get(self.op, {}).get(key) if value is None else value

    def describe(self) -> str:
        shown = [f"{k}={self.attrs[k]}" for k in ("kernel", "num_filter", "num_group", "num_hidden",
                                                  "input_dim", "output_dim", "num_groups")
                 if k in self.attrs]
        return f"symbol layer {self.name!r} ({', '.join([self.op] + shown)})"


class SymbolGraph(NamedTuple):
    """A symbol file, read: its path, parameterised layers in graph order, and where each
    layer's input comes from (``sources``: position -> the positions of the nearest
    parameterised layers upstream, through parameter-free operators)."""

    path: str
    layers: List[SymbolLayer]
    sources: Dict[int, FrozenSet[int]]


class SymbolNote(NamedTuple):
    """One symbol attribute that makes the loaded net differ from the symbol's.

    ``layer`` is the symbol layer, ``path`` the net layer's path, ``attribute`` the
    attribute (``'fix_gamma'``, ``'eps'``...), ``symbol`` and ``net`` their values,
    ``message`` the sentence the report prints, ``fixed`` whether the load applied the
    fix (``fix_gamma='ones'``), ``training_only`` whether only training is affected,
    ``detail`` the message without the layers (the same for every layer it concerns:
    the report prints such notes once, with the layers listed).
    """

    layer: str
    path: str
    attribute: str
    symbol: Any
    net: Any
    message: str
    fixed: bool = False
    training_only: bool = False
    detail: str = ""

    def __str__(self) -> str:
        return self.message


class _NetLayer(NamedTuple):
    path: str
    block: Any
    op: Optional[str]
    params: Dict[str, Tuple[str, Any]]  # table role -> (parameter path, Parameter)

    def describe(self) -> str:
        return f"net layer {self.path!r} ({type(self.block).__name__})"


# --------------------------------------------------------------------------- reading

def find_symbol(params_path: Any, symbol: Any) -> Optional[str]:
    """The symbol file to use: ``symbol`` itself, or ``prefix-symbol.json`` beside a
    ``prefix-NNNN.params`` file when it exists (``symbol=None``); ``symbol=False``: none.

    >>> find_symbol('/nowhere/model-0007.params', None) is None
    True
    """
    if symbol is False:
        return None
    if symbol is not None:
        if not isinstance(symbol, (str, bytes, os.PathLike)):
            raise CheckpointTypeError(f"symbol must be a path to a -symbol.json file, None (look "
                                      f"beside the .params file) or False; got {type(symbol).__name__}")
        return os.fsdecode(symbol)
    path = os.fsdecode(params_path) if isinstance(params_path, (str, bytes, os.PathLike)) else ""
    match = re.match(r"^(.*)-\d+\.params$", path)
    if match is None:
        return None
    candidate = match.group(1) + "-symbol.json"
    return candidate if os.path.isfile(candidate) else None


def read_symbol(path: str, file_keys: Sequence[str] = ()) -> SymbolGraph:
    """Read a ``-symbol.json`` file (any MXNet version's layout: ``attrs``, ``attr`` or
    ``param``); ``file_keys`` mark the variables the checkpoint holds, so an operator this
    module cannot pair that takes one of them is reported instead of skipped.

    Raises:
        CheckpointError: The file is missing, not JSON, or not a symbol graph.
    """
    try:
        with open(path, "rb") as f:
            doc = json.loads(f.read().decode("utf-8"))
    except FileNotFoundError:
        raise CheckpointError(f"symbol file {path!r} does not exist (symbol= names the "
                              f"-symbol.json file that save_checkpoint wrote)") from None
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise CheckpointError(f"symbol file {path!r} is not a readable JSON symbol graph: "
                              f"{exc}") from None
    nodes = doc.get("nodes") if isinstance(doc, dict) else None
    if not isinstance(nodes, list) or not nodes:
        raise CheckpointError(f"symbol file {path!r} is not a symbol graph: expected a JSON "
                              f"object with a non-empty 'nodes' list (as save_checkpoint writes)")
    stored = set()
    for key in file_keys:
        stored.add(key[4:] if key[:4] in ("arg:", "aux:") else key)
    parsed = [_node(path, i, n, len(nodes)) for i, n in enumerate(nodes)]
    layers: List[SymbolLayer] = []
    layer_of: Dict[int, int] = {}
    upstream: List[FrozenSet[int]] = []
    seen_params: Dict[Tuple[str, ...], int] = {}
    for i, (op, name, attrs, inputs) in enumerate(parsed):
        up = frozenset().union(*[upstream[j] | ({layer_of[j]} if j in layer_of else set())
                                 for j in inputs]) if inputs else frozenset()
        upstream.append(up)
        if op == "null":
            continue
        variables = [(j, parsed[j][1]) for j in inputs if parsed[j][0] == "null"]
        if op in OP_ROLES and (op != "LeakyReLU" or attrs.get("act_type") == "prelu"):
            _check_attributes(path, name, attrs)
            params: Dict[str, str] = OrderedDict()
            problem = None
            for role, j in zip(OP_ROLES[op], inputs[1:]):
                if parsed[j][0] != "null":
                    problem = f"its {role} is computed by {parsed[j][0]} {parsed[j][1]!r}, not stored"
                params[role] = parsed[j][1]
            if op in ("Convolution", "Deconvolution", "FullyConnected") and \
                    _flag(path, name, "no_bias", attrs.get("no_bias", DEFAULTS[op]["no_bias"])):
                params.pop("bias", None)
        elif any(v in stored for _, v in variables):
            params = OrderedDict((v, v) for _, v in variables if v in stored)
            problem = (f"the walk pairs {listing(sorted(OP_ROLES))} only; {op} holds "
                       f"{listing(sorted(params))}" + (" (a fused parameter vector)" if op == "RNN" else ""))
        else:
            continue
        signature = tuple(params.values())
        if signature in seen_params:  # the same layer applied again (shared weights)
            layer_of[i] = seen_params[signature]
            continue
        seen_params[signature] = len(layers)
        layer_of[i] = len(layers)
        layers.append(SymbolLayer(len(layers), name, op, attrs, params, up, problem))
    return SymbolGraph(path, layers, _sources([inputs for _, _, _, inputs in parsed], layer_of))


def _sources(inputs: Sequence[Sequence[int]], layer_of: Mapping[int, Any]) -> Dict[Any, FrozenSet[Any]]:
    """Layer -> the nearest layers upstream of its inputs (through nodes of no layer);
    ``inputs[i]`` are node i's input nodes, ``layer_of`` maps a layer's nodes to it (a
    layer applied twice has two nodes; its own output feeding it again is left out)."""
    near: List[FrozenSet[Any]] = []
    out: Dict[Any, set] = {}
    for i, ins in enumerate(inputs):
        found: set = set()
        for j in ins:
            found |= {layer_of[j]} if j in layer_of else near[j]
        near.append(frozenset(found))
        if i in layer_of:
            out.setdefault(layer_of[i], set()).update(found - {layer_of[i]})
    return {k: frozenset(v) for k, v in out.items()}


def _node(path: str, i: int, node: Any, count: int) -> Tuple[str, str, Dict[str, str], List[int]]:
    """``(op, name, attributes, input node indices)`` of one JSON node, checked."""
    where = f"symbol file {path!r}, node {i}"
    if not isinstance(node, dict) or not isinstance(node.get("op"), str) \
            or not isinstance(node.get("name"), str):
        raise CheckpointError(f"{where} is not a symbol node: expected an object with string "
                              f"'op' and 'name'")
    attrs: Dict[str, str] = {}
    for field in ("param", "attr", "attrs"):  # MXNet < 0.9, < 1.0, >= 1.0
        value = node.get(field) or {}
        if not isinstance(value, dict):
            raise CheckpointError(f"{where} ({node['name']!r}): {field!r} is not an object")
        attrs.update({str(k): str(v) for k, v in value.items()})
    inputs = node.get("inputs", [])
    if not isinstance(inputs, list) or not all(
            isinstance(e, list) and e and isinstance(e[0], int) and 0 <= e[0] < i for e in inputs):
        raise CheckpointError(f"{where} ({node['name']!r}): 'inputs' must be a list of "
                              f"[node, output, ...] entries naming earlier nodes (of {count})")
    return node["op"], node["name"], attrs, [e[0] for e in inputs]


#: The attributes the walk and the notes read, by kind: checked when the file is read.
INT_ATTRS = ("kernel", "stride", "pad", "dilate", "adj", "num_filter", "num_group", "num_hidden",
             "input_dim", "output_dim", "num_groups", "axis")
FLAG_ATTRS = ("no_bias", "flatten", "fix_gamma", "use_global_stats")
NUMBER_ATTRS = ("eps", "momentum")


def _check_attributes(path: str, layer: str, attrs: Mapping[str, str]) -> None:
    """A parameterised layer's attributes parse (all or nothing: before any pairing)."""
    for key, value in attrs.items():
        if key in INT_ATTRS:
            _ints(path, layer, key, value)
        elif key in FLAG_ATTRS:
            _flag(path, layer, key, value)
        elif key in NUMBER_ATTRS:
            _number(path, layer, key, value)


def _flag(path: str, layer: str, key: str, value: str) -> bool:
    text = value.strip().lower()
    if text in ("true", "1"):
        return True
    if text in ("false", "0"):
        return False
    raise CheckpointError(f"symbol file {path!r}, layer {layer!r}: {key}={value!r} is not a "
                          f"boolean (expected True or False)")


def _ints(path: str, layer: str, key: str, value: Optional[str]) -> Optional[Tuple[int, ...]]:
    if value is None:
        return None
    if not re.fullmatch(r"\s*[\(\[]?\s*(-?\d+\s*(,\s*-?\d+\s*)*,?)?\s*[\)\]]?\s*", value):
        raise CheckpointError(f"symbol file {path!r}, layer {layer!r}: {key}={value!r} is not "
                              f"an integer or a tuple of integers")
    return tuple(int(v) for v in re.findall(r"-?\d+", value))


def _number(path: str, layer: str, key: str, value: str) -> float:
    try:
        return float(value)
    except ValueError:
        raise CheckpointError(f"symbol file {path!r}, layer {layer!r}: {key}={value!r} is not "
                              f"a number") from None


# --------------------------------------------------------------------------- the net's layers

def _gluon_op(blk: Any) -> Optional[str]:
    nn = gluon.nn
    if isinstance(blk, nn.conv_layers._Conv):  # np mode names them 'convolution', 'deconvolution'
        return blk._op_name[:1].upper() + blk._op_name[1:]
    kinds = ((nn.Dense, "FullyConnected"), (nn.basic_layers._BatchNorm, "BatchNorm"),
             (nn.Embedding, "Embedding"), (nn.PReLU, "LeakyReLU"), (nn.InstanceNorm, "InstanceNorm"),
             (nn.LayerNorm, "LayerNorm"), (nn.GroupNorm, "GroupNorm"))
    for cls, op in kinds:
        if isinstance(blk, cls):
            return op
    return None


def _net_layers(block: Block, example: Optional[Sequence[Any]],
                shapes: Dict[int, Tuple[int, ...]]) -> List[_NetLayer]:
    """The blocks holding Parameters of their own, in forward order (traced with
    ``example``) or registration order; ``shapes`` receives traced deferred shapes."""
    path_of = {id(p): k for k, p in named_parameters(block).items()}
    blocks = named_blocks(block)
    layers: "OrderedDict[str, _NetLayer]" = OrderedDict()
    claimed: set = set()
    for path, blk in blocks.items():
        own = [(name, p) for name, p in blk._reg_params.items() if id(p) in path_of]
        if not own or all(id(p) in claimed for _, p in own):
            continue  # no parameters, or another block's (shared): one layer, as in the graph
        claimed.update(id(p) for _, p in own)
        params: Dict[str, Tuple[str, Any]] = OrderedDict()
        for name, p in own:
            params[_role(name) or name] = (path_of[id(p)], p)
        layers[path] = _NetLayer(path, blk, _gluon_op(blk), params)
    if example is None:
        return list(layers.values())
    pending = [k for k, p in named_parameters(block).items() if init_state(p) == "uninitialized"]
    if pending:
        raise CheckpointError(
            f"load(..., example=...) traces one forward pass of {type(block).__name__}, but "
            f"{len(pending)} parameters are not initialized ({listing(pending, 4)}): call "
            f"net.initialize() first (deferred shapes are fine), or leave out example=")
    try:
        from ..inspection import trace_outputs  # here: inspection needs mxnet, files do not
        order = trace_outputs(block, list(example), shapes)
    except Exception as exc:  # the user's net or input: say which call failed
        raise CheckpointError(
            f"load(..., example=...): the forward pass of {type(block).__name__} on the example "
            f"failed ({type(exc).__name__}: {exc})") from exc
    called = [layers[p] for p in order if p in layers]
    return called + [layer for p, layer in layers.items() if p not in order]


def check_example(example: Any) -> Optional[List[Any]]:
    """``load``'s ``example=`` as a list of inputs (or ``None``): an MXNet array (nd or np)
    or a non-empty list or tuple of them; else a :class:`CheckpointTypeError` naming it.

    >>> check_example(None) is None, len(check_example(mx.nd.ones((1, 3))))
    (True, 1)
    >>> check_example('0')
    Traceback (most recent call last):
      ...
    gluon_params_kit.errors.CheckpointTypeError: load: example must be None, an input batch (mx.nd.NDArray or mx.np.ndarray) or a non-empty list or tuple of them, like mx.nd.ones((1, 3, 32, 32)); got '0'
    """
    if example is None:
        return None
    batch = [example] if isinstance(example, mx.nd.NDArray) else example
    if not (isinstance(batch, (list, tuple)) and batch and all(isinstance(x, mx.nd.NDArray) for x in batch)):
        raise CheckpointTypeError(
            f"load: example must be None, an input batch (mx.nd.NDArray or mx.np.ndarray) or a non-empty list "
            f"or tuple of them, like mx.nd.ones((1, 3, 32, 32)); got {_shown(example)}")
    return list(batch)


# --------------------------------------------------------------------------- pairing

class _NetGraph(NamedTuple):
    """The net's own graph (one symbolic call): its layers' paths in graph order and
    ``sources`` (path -> the paths of the nearest layers upstream of its input)."""

    order: List[str]
    sources: Dict[str, FrozenSet[str]]


def _net_graph(block: Block, inputs: int, layers: Sequence[_NetLayer]) -> Optional[_NetGraph]:
    """The net called once on symbols (a HybridBlock; nothing in it changes), read like a
    symbol file; ``None`` when it cannot be called so (a plain Block, another input count)."""
    if not isinstance(block, gluon.HybridBlock):
        return None
    params = [p for layer in layers for _, p in layer.params.values()]
    layer_of_param = {p.name: layer.path for layer in layers for _, p in layer.params.values()}
    saved = [(p, p._var) for p in params]
    try:
        data = [mx.sym.var(f"data{i}") for i in range(inputs)]
        if is_np_array():
            data = [d.as_np_ndarray() for d in data]
        out = block(*data)
        out = mx.sym.Group(list(_flat(out))) if isinstance(out, (list, tuple)) else out
        nodes = json.loads(out.tojson())["nodes"]
    except Exception:  # not callable on symbols: the walk goes by order alone
        return None
    finally:
        for p, var in saved:
            p._var = var
    inputs_of = [[e[0] for e in n.get("inputs", [])] for n in nodes]
    layer_of: Dict[int, str] = {}
    order: List[str] = []
    for i, n in enumerate(nodes):
        if n["op"] == "null":
            continue
        owners = [layer_of_param[nodes[j]["name"]] for j in inputs_of[i]
                  if nodes[j]["op"] == "null" and nodes[j]["name"] in layer_of_param]
        if owners:
            layer_of[i] = owners[0]
            if owners[0] not in order:
                order.append(owners[0])
    return _NetGraph(order, _sources(inputs_of, layer_of))


def _keys_match(block: Block, header: Header) -> bool:
    """Every file key is a key of the block and every Parameter has one: no walk needed."""
    params = named_parameters(block, aliases=True)
    keys = file_keys_of(header)
    if not all(k in params for k in keys):
        return False
    return {id(params[k]) for k in keys} >= {id(p) for p in params.values()}


def _flat(out: Any) -> List[Any]:
    if isinstance(out, (list, tuple)):
        return [x for o in out for x in _flat(o)]
    return [out]


def _file_key(var: str, names: FrozenSet[str]) -> Optional[str]:
    """The file's key for a variable: ``arg:``/``aux:`` prefixed (save_checkpoint) or bare."""
    for key in ("arg:" + var, "aux:" + var, var):
        if key in names:
            return key
    return None


def _mismatch(sym: SymbolLayer, net: _NetLayer, header: Header, graph: SymbolGraph,
              shapes: Dict[int, Tuple[int, ...]]) -> Optional[str]:
    """Why ``net`` cannot take ``sym``'s values, or ``None`` when it can."""
    if net.op != sym.op:
        return f"{sym.op} vs {type(net.block).__name__}"
    sym_roles = {_role(r) for r in sym.params} - {"bias"}
    net_roles = set(net.params) - {"bias"}
    if sym_roles != net_roles:
        return (f"parameters {listing(sorted(sym.params))} vs "
                f"{listing(sorted(p.rpartition('.')[2] for p, _ in net.params.values()))}")
    checks = _shape_attrs(sym, net, graph.path)
    for label, a, b in checks:
        if a is not None and b is not None and a != b:
            return f"{label} {_show(a)} in the symbol vs {_show(b)} in the net"
    unknown = -1 if mx.util.is_np_shape() else 0
    names = frozenset(header.names)
    for role, var in sym.params.items():
        target = net.params.get(_role(role) or role)
        if target is None:
            continue  # a bias only one side has: a note, not a reason to refuse
        key = _file_key(var, names)
        if key is None:
            return f"its {role} {var!r} is not in the file"
        file_shape = header[key].shape
        param = target[1]
        net_shape = shapes.get(id(param)) or param.shape
        if not _fits(net_shape, file_shape, unknown):
            return (f"{role}: file {_show(file_shape)} vs net {target[0]!r} "
                    f"{_show(tuple(net_shape) if net_shape is not None else None)}")
    return None


def _flow_mismatch(sym: SymbolLayer, net: _NetLayer, graph: SymbolGraph, flow: Optional[_NetGraph],
                   symbol_of: Mapping[str, int]) -> Optional[str]:
    """Why ``net``'s input does not come from where ``sym``'s does (the nearest layers
    upstream, through the pairs made so far), or ``None`` (agreeing, or nothing to compare:
    no net graph, or an upstream layer of the net not paired yet)."""
    if flow is None or net.path not in flow.sources:
        return None
    theirs = flow.sources[net.path]
    if not all(p in symbol_of for p in theirs):
        return None
    ours = graph.sources.get(sym.position, frozenset())
    if frozenset(symbol_of[p] for p in theirs) == ours:
        return None
    names = {s.position: s.name for s in graph.layers}
    return (f"its input comes from {listing(sorted(names[i] for i in ours)) or 'the data'} in the "
            f"symbol, from {listing(sorted(theirs)) or 'the data'} in the net")


def _fits(expected: Any, saved: Any, unknown: int) -> bool:
    if saved is None:
        return False
    if expected is None:
        return True
    return len(expected) == len(saved) and all(e in (unknown, s) for e, s in zip(expected, saved))


def _show(value: Any) -> str:
    if isinstance(value, tuple):
        return "(" + ", ".join(str(v) for v in value) + ("," if len(value) == 1 else "") + ")"
    return str(value)


def _shape_attrs(sym: SymbolLayer, net: _NetLayer, path: str) -> List[Tuple[str, Any, Any]]:
    """(label, symbol value, net value) of the attributes that decide the shapes."""
    blk, name = net.block, sym.name
    if sym.op in ("Convolution", "Deconvolution"):
        kw = blk._kwargs
        return [("kernel", _ints(path, name, "kernel", sym.attr("kernel")), tuple(kw["kernel"])),
                ("num_filter", _ints(path, name, "num_filter", sym.attr("num_filter")),
                 (kw["num_filter"],)),
                ("num_group", _ints(path, name, "num_group", sym.attr("num_group")),
                 (kw["num_group"],))]
    if sym.op == "FullyConnected":
        return [("num_hidden", _ints(path, name, "num_hidden", sym.attr("num_hidden")), (blk._units,))]
    if sym.op == "Embedding":
        kw = blk._kwargs
        return [(k, _ints(path, name, k, sym.attr(k)), (kw[k],)) for k in ("input_dim", "output_dim")]
    if sym.op == "GroupNorm":
        return [("num_groups", _ints(path, name, "num_groups", sym.attr("num_groups")),
                 (blk._kwargs["num_groups"],))]
    return []


def pair_with_net(graph: SymbolGraph, block: Block, header: Header,
                  example: Optional[Sequence[Any]] = None
                  ) -> Tuple["OrderedDict[str, str]", List[Tuple[SymbolLayer, str]]]:
    """Walk the net's layers in forward order against the graph.

    Returns ``(file key -> parameter path, [(symbol layer, net layer path), ...])``.

    Raises:
        CheckpointError: A layer of either side has no counterpart, two ready symbol
            layers fit one net layer equally, or a layer holds parameters the walk
            cannot pair; the message names the layer and says why.
    """
    shapes: Dict[int, Tuple[int, ...]] = {}
    net_layers = _net_layers(block, example, shapes)
    flow = _net_graph(block, len(example) if example is not None else 1, net_layers)
    if flow is not None and example is None:  # the graph's order: a forward order too
        rank = {p: i for i, p in enumerate(flow.order)}
        net_layers.sort(key=lambda n: rank.get(n.path, len(rank)))
    hint = "" if example is not None or flow is not None else (
        " (the net's layers were taken in registration order; if its forward calls them in "
        "another order, example=<an input batch> traces that order)")
    stuck = [s for s in graph.layers if s.problem is not None]
    if stuck:
        raise CheckpointError(f"{stuck[0].describe()} cannot be paired: {stuck[0].problem}")
    odd = [n for n in net_layers if n.op is None]
    if odd:
        raise CheckpointError(
            f"{odd[0].describe()} holds parameters ({listing([p for p, _ in odd[0].params.values()], 4)}) "
            f"of a kind the symbol walk does not pair (it pairs {listing(sorted(OP_ROLES))})")
    paired: Dict[int, str] = {}
    symbol_of: Dict[str, int] = {}
    for net in net_layers:
        done = set(paired)
        ready = [s for s in graph.layers if s.position not in paired and s.upstream <= done]
        reasons = [(s, _mismatch(s, net, header, graph, shapes)
                    or _flow_mismatch(s, net, graph, flow, symbol_of)) for s in ready]
        fitting = [s for s, why in reasons if why is None]
        if len(fitting) > 1:
            raise CheckpointError(
                f"{net.describe()} fits {len(fitting)} symbol layers equally "
                f"({listing([s.name for s in fitting], 4)}): same operator, attributes, shapes and "
                f"inputs, and the graph does not order them; nothing is guessed. Pass remap= with "
                f"the keys of these layers{hint}")
        if not fitting:
            if not ready:
                raise CheckpointError(f"{net.describe()} has no counterpart: every parameterised "
                                      f"layer of the symbol is paired already{hint}")
            same_op = [(s, why) for s, why in reasons if s.op == net.op] or reasons
            s, why = same_op[0]
            next_ = "the symbol's next layer" if len(ready) == 1 else "one of the symbol's next layers"
            raise CheckpointError(f"{net.describe()} does not fit {s.describe()}, {next_}: {why}{hint}")
        paired[fitting[0].position] = net.path
        symbol_of[net.path] = fitting[0].position
    left = [s for s in graph.layers if s.position not in paired]
    if left:
        more = f" and {len(left) - 1} more have" if len(left) > 1 else " has"
        raise CheckpointError(f"{left[0].describe()}{more} no counterpart in {type(block).__name__}: "
                              f"its parameterised layers are all paired{hint}")
    by_path = {n.path: n for n in net_layers}
    names = frozenset(header.names)
    mapping: "OrderedDict[str, str]" = OrderedDict()
    pairs: List[Tuple[SymbolLayer, str]] = []
    for s in graph.layers:
        net = by_path[paired[s.position]]
        pairs.append((s, net.path))
        for role, var in s.params.items():
            key = _file_key(var, names)
            target = net.params.get(_role(role) or role)
            if key is not None and target is not None:
                mapping[key] = target[0]
    return OrderedDict((k, mapping[k]) for k in header.names if k in mapping), pairs


def layer_pairs(graph: SymbolGraph, header: Header, path_of_key: Mapping[str, str]
                ) -> List[Tuple[SymbolLayer, str]]:
    """(symbol layer, net layer path) through the load's own key mapping (a file whose
    keys matched without the walk): the layer of the path its first stored value goes to."""
    out = []
    names = frozenset(header.names)
    for s in graph.layers:
        for var in s.params.values():
            key = _file_key(var, names)
            if key is not None and key in path_of_key:
                out.append((s, path_of_key[key].rpartition(".")[0]))
                break
    return out


# --------------------------------------------------------------------------- notes

def symbol_notes(graph: SymbolGraph, pairs: Sequence[Tuple[SymbolLayer, str]], block: Block,
                 header: Header, arrays: Optional[Mapping[str, Any]] = None,
                 fix_gamma: Optional[str] = None) -> List[SymbolNote]:
    """Every attribute of the paired symbol layers that makes the net compute otherwise.

    ``arrays`` (file key -> array, once read) lets the ``fix_gamma`` check look at the
    file's gamma: a gamma of ones changes nothing and is not reported.
    """
    blocks = named_blocks(block)
    notes: List[SymbolNote] = []
    for sym, path in pairs:
        blk = blocks.get(path)
        if blk is None:
            continue
        where = f"symbol layer {sym.name!r} -> net layer {path!r}"

        def note(attribute: str, ours: Any, theirs: Any, detail: str, extra: str = "", **kw: Any) -> None:
            notes.append(SymbolNote(sym.name, path, attribute, ours, theirs, f"{where}: {detail}{extra}",
                                    detail=detail, **kw))
        if sym.op == "BatchNorm" and _gluon_op(blk) == "BatchNorm":
            _batchnorm_notes(sym, blk, graph.path, header, arrays, fix_gamma, note)
        elif sym.op in ("InstanceNorm", "LayerNorm", "GroupNorm"):
            eps = _number(graph.path, sym.name, "eps", sym.attr("eps") or "0")
            if not math.isclose(eps, blk._kwargs["eps"], rel_tol=1e-6):
                note("eps", eps, blk._kwargs["eps"],
                     f"eps={eps:g} in the symbol, epsilon={blk._kwargs['eps']:g} in the net; build it with "
                     f"{type(blk).__name__}(epsilon={eps!r})")
            axis = sym.attr("axis")
            if axis is not None and sym.op != "GroupNorm" and int(axis) != blk._kwargs["axis"]:
                note("axis", int(axis), blk._kwargs["axis"],
                     f"axis={axis} in the symbol, {blk._kwargs['axis']} in the net")
        elif sym.op in ("Convolution", "Deconvolution"):
            kw = blk._kwargs
            k = len(kw["kernel"])
            for attr, default in (("stride", 1), ("pad", 0), ("dilate", 1), ("adj", 0)):
                if attr == "adj" and sym.op != "Deconvolution":
                    continue
                ours = _ints(graph.path, sym.name, attr, sym.attr(attr)) or (default,) * k
                theirs = tuple(kw.get(attr) or (default,) * k)
                if ours != theirs:
                    note(attr, ours, theirs, f"{attr} {_show(ours)} in the symbol, {_show(theirs)} in the net")
            layout = sym.attr("layout")
            if layout not in (None, "None") and kw.get("layout") not in (None, layout):
                note("layout", layout, kw["layout"], f"layout {layout} in the symbol, {kw['layout']} in the net")
            _bias_note(sym, blk, note)
        elif sym.op == "FullyConnected":
            flatten = _flag(graph.path, sym.name, "flatten", sym.attr("flatten") or "True")
            if flatten != blk._flatten:
                note("flatten", flatten, blk._flatten,
                     f"flatten={flatten} in the symbol, {blk._flatten} in the net; build it with "
                     f"Dense(..., flatten={flatten})")
            _bias_note(sym, blk, note)
    return notes


def _bias_note(sym: SymbolLayer, blk: Any, note: Callable[..., None]) -> None:
    has = "bias" in sym.params
    net_has = getattr(blk, "bias", None) is not None
    if has and not net_has:
        note("no_bias", False, True, "the symbol adds a bias (in the file), the net layer has "
             "none; build it with use_bias=True")
    elif net_has and not has:
        note("no_bias", True, False, "no_bias=True in the symbol (the file holds no bias), the "
             "net layer has a bias the file cannot fill; build it with use_bias=False")


def _batchnorm_notes(sym: SymbolLayer, blk: Any, path: str, header: Header,
                     arrays: Optional[Mapping[str, Any]], fix_gamma: Optional[str],
                     note: Callable[..., None]) -> None:
    kw = blk._kwargs
    names = frozenset(header.names)
    fixed = _flag(path, sym.name, "fix_gamma", sym.attr("fix_gamma") or "True")
    gamma_key = _file_key(sym.params.get("gamma", ""), names)
    if fixed and not kw["fix_gamma"] and gamma_key is not None:
        gamma = _host(arrays.get(gamma_key)) if arrays is not None else None
        off = None if gamma is None else float(onp.max(onp.abs(gamma.astype(onp.float64) - 1.0), initial=0.0))
        if off is None or off > 0:
            held = ("the file's gamma is not 1" if off is not None
                    else "the file's gamma (not read yet) may not be 1")
            extra = f" (here max |gamma - 1| = {off:.3g})" if off is not None else ""
            if fix_gamma == "ones":
                note("fix_gamma", True, False, f"fix_gamma=True in the symbol: gamma loaded as ones "
                     f"(fix_gamma='ones'; {held})", extra, fixed=True)
            else:
                note("fix_gamma", True, False,
                     f"fix_gamma=True in the symbol: MXNet uses gamma = 1, but {held} and the net's "
                     f"BatchNorm(scale=True) would multiply by it. Load with fix_gamma='ones', or "
                     f"build the layer with BatchNorm(scale=False)", extra)
    elif not fixed and kw["fix_gamma"] and gamma_key is not None:
        gamma = _host(arrays.get(gamma_key)) if arrays is not None else None
        if gamma is None or not onp.all(gamma == 1):
            note("fix_gamma", False, True, "fix_gamma=False in the symbol: MXNet multiplies by the "
                 "file's gamma, the net's BatchNorm(scale=False) by 1; build it with scale=True")
    eps = _number(path, sym.name, "eps", sym.attr("eps") or "0.001")
    if not math.isclose(eps, kw["eps"], rel_tol=1e-6):
        note("eps", eps, kw["eps"], f"eps={eps:g} in the symbol, epsilon={kw['eps']:g} in the net; "
             f"build it with BatchNorm(epsilon={eps!r})")
    momentum = _number(path, sym.name, "momentum", sym.attr("momentum") or "0.9")
    if not math.isclose(momentum, kw["momentum"], rel_tol=1e-6):
        note("momentum", momentum, kw["momentum"],
             f"momentum={momentum:g} in the symbol, {kw['momentum']:g} in the net (training only: "
             f"how the running statistics move); build it with BatchNorm(momentum={momentum!r})",
             training_only=True)
    stats = _flag(path, sym.name, "use_global_stats", sym.attr("use_global_stats") or "False")
    if stats != kw["use_global_stats"]:
        note("use_global_stats", stats, kw["use_global_stats"],
             f"use_global_stats={stats} in the symbol, {kw['use_global_stats']} in the net "
             f"(training mode only); build it with BatchNorm(use_global_stats={stats})",
             training_only=True)
    axis = int(_number(path, sym.name, "axis", sym.attr("axis") or "1"))
    if axis != kw["axis"]:
        note("axis", axis, kw["axis"], f"axis={axis} in the symbol, {kw['axis']} in the net; build "
             f"it with BatchNorm(axis={axis})")


def _host(value: Any) -> Any:
    if value is None:  # not read: the check is left to the note's wording
        return None
    return onp.asarray(value.asnumpy() if hasattr(value, "asnumpy") else value)


def apply_fix_gamma(graph: SymbolGraph, pairs: Sequence[Tuple[SymbolLayer, str]], block: Block,
                    header: Header, arrays: Dict[str, Any]) -> List[str]:
    """``fix_gamma='ones'``: the gamma of each BatchNorm the symbol fixes becomes ones
    (where the net's layer uses its gamma); returns the file keys replaced."""
    blocks = named_blocks(block)
    names = frozenset(header.names)
    done = []
    for sym, path in pairs:
        blk = blocks.get(path)
        if sym.op != "BatchNorm" or blk is None or _gluon_op(blk) != "BatchNorm" or blk._kwargs["fix_gamma"]:
            continue
        if not _flag(graph.path, sym.name, "fix_gamma", sym.attr("fix_gamma") or "True"):
            continue
        key = _file_key(sym.params.get("gamma", ""), names)
        if key is not None and key in arrays:
            value = arrays[key]
            arrays[key] = mx.nd.ones_like(value) if hasattr(value, "asnumpy") else onp.ones_like(value)
            done.append(key)
    return done


# --------------------------------------------------------------------------- one load

class SymbolLoad:
    """The symbol's part in one :func:`~gluon_params_kit.checkpoint.load`: the graph (or
    ``None``), how its layers pair with the net's, and the notes once the values are read."""

    def __init__(self, params_path: Any, symbol: Any, header: Header, fix_gamma: Optional[str]):
        found = find_symbol(params_path, symbol)
        if fix_gamma is not None and found is None:
            raise CheckpointError(
                f"fix_gamma={fix_gamma!r} needs the symbol file that says which BatchNorm layers fix "
                f"gamma: none found beside {os.fsdecode(header.path)!r} (pass symbol='prefix-symbol.json')")
        try:
            self.graph = None if found is None else read_symbol(found, header.names)
        except CheckpointError as exc:
            if symbol is not None:
                raise
            raise CheckpointError(f"{exc} (found beside the .params file; symbol=False loads "
                                  f"without it)") from None
        self.header, self.fix_gamma = header, fix_gamma
        self.pairs: List[Tuple[SymbolLayer, str]] = []
        self.walk_problem: Optional[str] = None

    def plan(self, block: Block, replan: Callable[[Any], Tuple[Any, Any]], remap: Any, *,
             walk: bool, strict: bool, example: Any) -> Tuple[Any, Any]:
        """``(report, plan)`` of the load (``replan(remap)`` makes them): through the graph
        walk when the keys do not match the block's by name and ``walk`` (no remap was
        given), else as the keys say; with the header-only notes. ``example``: an input, a
        list or tuple of inputs, or ``None``: checked even when the walk does not need it."""
        example = check_example(example)
        if self.graph is None:
            return replan(remap)
        graph, header = self.graph, self.header
        walked = None
        if walk and not _keys_match(block, header):
            try:
                walked = pair_with_net(graph, block, header, example)
            except CheckpointError as exc:
                report, plan = replan(remap)  # what the keys alone say (and suggest)
                if strict:
                    by_keys = "" if report.suggestion is None else (
                        f" By the keys alone (not the graph), remap={brief_repr(report.suggestion)} "
                        f"would match {report.suggestion_matches} of {len(named_parameters(block))} "
                        f"parameters.")
                    raise CheckpointError(
                        f"cannot load {header.path!r} into {type(block).__name__} by its symbol "
                        f"{graph.path!r}: {exc}. Nothing was changed.{by_keys}", report=report) from None
                self.walk_problem = str(exc)
        if walked is not None:
            report, plan = replan(Remap.keys(walked[0]))
            self.pairs = walked[1]
        else:
            if self.walk_problem is None:
                report, plan = replan(remap)
            self.pairs = layer_pairs(graph, header, {k: canon for canon, (_, keys) in plan.items()
                                                     for k in keys})
        return report.replace(symbol=graph.path, symbol_notes=self.notes(block, None)), plan

    def notes(self, block: Block, arrays: Optional[Mapping[str, Any]]) -> List[SymbolNote]:
        if self.graph is None:
            return []
        notes = symbol_notes(self.graph, self.pairs, block, self.header, arrays, self.fix_gamma)
        if self.walk_problem is not None:
            notes.insert(0, SymbolNote("", "", "walk", None, None,
                                       f"the symbol walk paired nothing: {self.walk_problem}"))
        return notes

    def apply(self, block: Block, arrays: Dict[str, Any]) -> List[str]:
        """``fix_gamma='ones'``: ones into the fixed gammas (file keys replaced)."""
        if self.graph is None or self.fix_gamma != "ones":
            return []
        return apply_fix_gamma(self.graph, self.pairs, block, self.header, arrays)
