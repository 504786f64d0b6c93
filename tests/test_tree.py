"""tree.py: paths <-> blocks <-> Parameters, the legacy bridge, render_tree.

The property tests draw random nested architectures (Sequential, HybridSequential, custom
blocks with attribute children and their own Parameter, shared Dense layers, a block added
twice, deferred shapes); ``architectures()`` and ``build()`` are reused by test_select.py.
"""
import re

import gluon_params_kit  # noqa: F401  (numpy shim before mxnet)

# isort: split
import mxnet as mx
import pytest
from fixtures import array, book_mlp, book_rgnet, initialized, nested_custom, tied_mlp
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from mxnet import autograd, gluon
from mxnet.gluon import nn

from gluon_params_kit.tree import (
    fresh_names,
    get,
    legacy_names,
    match_legacy_names,
    named_blocks,
    named_parameters,
    parse_path,
    path_of,
    render_tree,
    walk,
)

PROPS = settings(max_examples=40, deadline=None,
                 suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


# --------------------------------------------------------------------------- random architectures

class _Holding:
    """Children as attributes (``features``, ``head``...) and optionally its own Parameter."""

    def __init__(self, kids, own_param, **kwargs):
        super().__init__(**kwargs)
        for attr, kid in kids:
            setattr(self, attr, kid)
        if own_param:
            self.scale = self.params.get("scale", shape=(1,), init=mx.init.One())


class Holder(_Holding, nn.Block):
    """A custom block whose children are attributes."""


class HybridHolder(_Holding, nn.HybridBlock):
    """The hybrid twin of :class:`Holder` (a HybridSequential only takes HybridBlocks)."""


ATTRS = ["features", "head", "body", "branch_a", "x1"]

leaves = st.one_of(
    st.tuples(st.just("dense"), st.integers(1, 4), st.booleans()),  # units, deferred
    st.just(("share",)),  # a Dense holding the Parameters of an earlier Dense
    st.just(("again",)),  # an earlier Dense registered a second time
)


def _branches(children):
    seq = st.tuples(st.just("seq"), st.booleans(), st.lists(children, min_size=1, max_size=3))
    holder = st.tuples(st.just("holder"), st.booleans(),
                       st.lists(st.tuples(st.sampled_from(ATTRS), children), min_size=1,
                                max_size=3, unique_by=lambda kv: kv[0]),
                       st.booleans())
    return st.one_of(seq, holder)


def architectures():
    """Specs of nested nets: the root is always a container."""
    return _branches(st.recursive(leaves, _branches, max_leaves=8))


def build(spec, hybrid=False, pool=None, known_shapes=False):
    """Build the net a spec describes (call inside ``fresh_names()`` for book-style names).

    ``known_shapes=True`` gives every Dense its input size, so the net can be saved at once.
    """
    pool = [] if pool is None else pool
    kind = spec[0]
    if kind == "dense":
        layer = nn.Dense(spec[1], in_units=0 if spec[2] and not known_shapes else 3)
        pool.append(layer)
        return layer
    if kind in ("share", "again"):
        if not pool:
            return build(("dense", 2, True), hybrid, pool, known_shapes)
        first = pool[0]
        if kind == "again":
            return first
        return nn.Dense(first._units, in_units=first._in_units, params=first.params)
    hybrid = hybrid or spec[1]
    if kind == "seq":
        net = nn.HybridSequential() if hybrid else nn.Sequential()
        net.add(*[build(s, hybrid, pool, known_shapes) for s in spec[2]])
        return net
    kids = [(attr, build(s, hybrid, pool, known_shapes)) for attr, s in spec[2]]
    return (HybridHolder if hybrid else Holder)(kids, spec[3])


def _book_form(path):
    """'0.features.1.weight' -> "[0].features[1].weight" (the book's indexing form)."""
    out = ""
    for seg in parse_path(path):
        out += f"[{seg}]" if seg.isdigit() else f".{seg}"
    return out.lstrip(".")


# --------------------------------------------------------------------------- properties

@PROPS
@given(architectures())
def test_every_path_resolves_and_inverts(spec):
    with fresh_names():
        net = build(spec)
    canonical = named_parameters(net)
    every = named_parameters(net, aliases=True)
    assert len(canonical) == len({id(p) for p in every.values()})
    for path, param in every.items():
        assert get(net, path) is param
        assert get(net, tuple(parse_path(path))) is param
        assert get(net, "net" + _book_form(path) if path[0].isdigit() else _book_form(path)) is param
        assert path_of(net, param) in canonical and canonical[path_of(net, param)] is param
    for path, param in canonical.items():
        assert path_of(net, param) == path
        aliases = [p for p, q in every.items() if q is param]
        assert path_of(net, param, all_paths=True) == aliases
    for path, blk in named_blocks(net, aliases=True).items():
        assert get(net, path) is blk
        assert path_of(net, blk, all_paths=True)[0] == path_of(net, blk)


def test_one_walk_keys_follow_overrides_on_a_class_or_an_instance():
    """The index takes the attribute paths as Gluon's keys only when no block of the tree
    has its own key method; a class override or one set on an instance is followed."""
    class Renamed(nn.Dense):
        def _collect_params_with_prefix(self, prefix=""):
            return {f"{prefix}.w" if prefix else "w": self.weight}
    net = nn.Sequential()
    net.add(nn.Dense(2, in_units=2), Renamed(2, in_units=2))
    assert list(net._collect_params_with_prefix()) == ["0.weight", "0.bias", "1.w"]
    assert list(named_parameters(net)) == ["0.weight", "0.bias", "1.w", "1.bias"]  # unsaved last
    inner = net[0]
    inner._collect_params_with_prefix = lambda prefix="": {f"{prefix}.only": inner.bias}
    assert list(net._collect_params_with_prefix()) == ["0.only", "1.w"]
    assert list(named_parameters(net)) == ["0.only", "1.w", "0.weight", "1.bias"]


@PROPS
@given(architectures())
def test_keys_are_those_save_parameters_writes(spec):
    with fresh_names():
        net = build(spec)
    assert list(named_parameters(net, aliases=True)) == list(net._collect_params_with_prefix())
    assert [p for p, _ in walk(net)] == list(named_blocks(net, aliases=True))


@PROPS
@given(architectures())
def test_walk_orders_visit_the_same_blocks(spec):
    with fresh_names():
        net = build(spec)
    depth = list(walk(net))
    breadth = list(walk(net, depth_first=False))
    assert sorted(p for p, _ in depth) == sorted(p for p, _ in breadth)
    assert depth[0] == ("", net) == breadth[0]
    levels = [p.count(".") + bool(p) for p, _ in breadth]
    assert levels == sorted(levels)


@PROPS
@given(architectures(), st.integers(1, 7))
def test_legacy_bridge_is_a_bijection_and_survives_renumbering(spec, offset):
    with fresh_names():
        net = build(spec)
    bridge = legacy_names(net)
    canonical = named_parameters(net)
    assert len(bridge) == len(canonical)
    for path, param in canonical.items():
        assert bridge.to_name(path) == param.name
        assert bridge.to_path(param.name) == path
    for path, param in named_parameters(net, aliases=True).items():
        assert bridge[bridge.to_name(path)] == path_of(net, param)
    # Another process numbers differently: blocks made before this net shift every counter.
    with fresh_names():
        for _ in range(offset):
            nn.Dense(1), nn.Sequential(), Holder([], False)
        other = build(spec)
    theirs = {p.name: path for path, p in named_parameters(other).items()}
    assert dict(match_legacy_names(net, list(theirs))) == theirs


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(spec=architectures())
def test_saved_file_keys_equal_named_parameters(tmp_path_factory, spec):
    with fresh_names():
        net = build(spec, known_shapes=True)
    net.initialize()
    fname = str(tmp_path_factory.mktemp("save") / "net.params")
    net.save_parameters(fname)
    assert sorted(mx.nd.load(fname)) == sorted(named_parameters(net, aliases=True))


# --------------------------------------------------------------------------- the book's nets

def test_rgnet_paths_and_book_forms():
    net = book_rgnet()
    params = named_parameters(net)
    assert len(params) == 18
    assert list(params)[:3] == ["0.0.0.weight", "0.0.0.bias", "0.0.1.weight"]
    assert list(params)[-2:] == ["1.weight", "1.bias"]
    assert get(net, "rgnet[0][1][0].bias") is net[0][1][0].bias
    assert get(net, "[0][1][0].bias") is get(net, "0.1.0.bias") is get(net, (0, 1, 0, "bias"))
    assert get(net, "0.-1") is net[0][3]
    assert get(net, "dense4_bias") is net[0][1][0].bias  # an auto name of this process
    assert get(net, "dense4") is net[0][1][0]
    assert path_of(net, net[0][1]) == "0.1"
    assert get(net, "") is net


def test_custom_block_attribute_paths(mode):
    net = initialized(nested_custom(), mode=mode, hybridize=True)
    assert list(named_parameters(net)) == [
        "0.weight", "0.bias", "1.scale", "1.features.0.weight", "1.features.0.bias",
        "1.features.1.weight", "1.features.1.bias", "1.head.weight", "1.head.bias"]
    assert get(net, "[1].features[0].weight") is net[1].features[0].weight
    assert get(net, "1.features.0.weight").shape == (8, 4)
    assert legacy_names(net).to_name("1.head.bias") == "custom0_dense2_bias"


def test_shared_parameters_one_canonical_path_many_aliases(tmp_path):
    net = tied_mlp()
    params = named_parameters(net)
    assert list(params) == ["0.weight", "0.bias", "1.weight", "1.bias", "3.weight", "3.bias"]
    assert path_of(net, net[2].weight) == "1.weight"
    assert path_of(net, net[2].weight, all_paths=True) == ["1.weight", "2.weight"]
    assert get(net, "2.weight") is net[1].weight
    bridge = legacy_names(net)
    assert bridge.to_name("2.weight") == bridge.to_name("1.weight") == net[1].weight.name


def test_deferred_and_np_mode_keep_paths(mode):
    net = book_mlp()
    before = list(named_parameters(net))
    initialized(net, x_shape=(2, 20), mode=mode)
    assert list(named_parameters(net)) == before == ["0.weight", "0.bias", "1.weight", "1.bias"]
    expected_type = mx.np.ndarray if mode == "np" else mx.nd.NDArray
    assert isinstance(get(net, "0.weight").data(), expected_type)
    assert get(net, "0.weight").shape == (256, 20)


def test_hybridized_net_trains_through_paths(mode):
    net = initialized(nested_custom(), mode=mode, hybridize=True)
    trainer = gluon.Trainer([get(net, "1.head.weight")], "sgd", {"learning_rate": 1.0})
    before = get(net, "1.head.weight").data().asnumpy().copy()
    with autograd.record():
        loss = net(array((2, 5), mode)).sum()
    loss.backward()
    trainer.step(1)
    assert (get(net, "1.head.weight").data().asnumpy() != before).any()


# --------------------------------------------------------------------------- parse / render

@pytest.mark.parametrize("text, segs", [
    ("0.1.0.bias", ("0", "1", "0", "bias")),
    ("[0][1][0].bias", ("0", "1", "0", "bias")),
    ("rgnet[0][1][0].bias", ("rgnet", "0", "1", "0", "bias")),
    ("features.3.weight", ("features", "3", "weight")),
    ("net['features'][0]", ("net", "features", "0")),
    ("", ()),
])
def test_parse_path_forms(text, segs):
    assert parse_path(text) == segs


def test_render_tree_nested_custom_in_hybrid_sequential():
    text = render_tree(nested_custom())
    lines = text.splitlines()
    assert lines[0] == "<root>  HybridSequential  'hybridsequential0'"
    assert "  1  Custom  'custom0'" in lines
    assert "    1.scale  (1,)  float32" in lines
    inner = next(ln for ln in lines if ln.strip().startswith("1.features.0.weight"))
    assert inner.startswith(" " * 8) and "(8, ?)" in inner  # depth 3, deferred input dim
    # every parameter path appears, once per alias
    for path in named_parameters(nested_custom(), aliases=True):
        assert sum(1 for ln in lines if ln.split()[0] == path) == 1


def test_render_tree_marks_shared_and_repeated_blocks():
    with fresh_names():
        net = nn.Sequential()
        d = nn.Dense(2, in_units=3)
        net.add(d, nn.Dense(2, in_units=3, params=d.params), d)
    lines = render_tree(net).splitlines()
    assert "    0.weight  (2, 3)  float32  shared: 1.weight, 2.weight" in lines
    assert "    1.weight  (2, 3)  float32  shared -> 0.weight" in lines
    assert "  2  Dense  'dense0'  same block as 0" in lines
    assert not any(ln.split()[0] == "2.weight" for ln in lines)


def test_render_tree_depth_and_grad_req():
    net = book_rgnet()
    net[1].weight.grad_req = "null"
    short = render_tree(net, max_depth=1).splitlines()
    assert short[1] == "  0  Sequential  'sequential2'  ... (4 children, 16 parameters inside)"
    assert "    1.weight  (10, ?)  float32  grad_req=null" in short
    assert render_tree(net, params=False).count("\n") == len(named_blocks(net)) - 1
    deep = render_tree(net)
    assert re.search(r"^ {6}0\.3\.1  Dense  'dense9'$", deep, re.M)


def test_render_tree_cut_block_still_lists_its_own_parameters():
    cut = render_tree(nested_custom(), max_depth=1).splitlines()
    assert cut[-2:] == ["  1  Custom  'custom0'  ... (2 children, 6 parameters inside)",
                        "    1.scale  (1,)  float32"]
    # a Dense with an activation child is cut too, but its Parameters stay visible
    tied = render_tree(tied_mlp(), max_depth=1).splitlines()
    assert tied[1:4] == ["  0  Dense  'dense1'  ... (1 child)",
                         "    0.weight  (8, ?)  float32",
                         "    0.bias    (8,)    float32"]


def test_render_tree_hybridized_initialized_np(mode):
    net = initialized(nested_custom(), mode=mode, hybridize=True)
    text = render_tree(net)
    assert "1.features.0.weight  (8, 4)  float32" in text
    assert "?" not in text


def test_path_index_answers_like_path_of_for_every_object():
    from gluon_params_kit.errors import PathError, PathTypeError
    from gluon_params_kit.tree import PathIndex
    net = nn.Sequential()
    shared = nn.Dense(3, in_units=3)
    net.add(tied_mlp(), shared, shared)  # tied Parameters, and a block at two paths
    index = PathIndex(net)
    objects = [b for _, b in walk(net)] + list(named_parameters(net).values())
    for obj in objects:
        assert obj in index
        assert index.path_of(obj) == path_of(net, obj)
        assert index.path_of(obj, all_paths=True) == path_of(net, obj, all_paths=True)
    assert index.path_of(shared, all_paths=True) == ["1", "2"]
    assert any(len(index.path_of(p, all_paths=True)) > 1 for p in named_parameters(net).values())
    assert len(index) == len({id(o) for o in objects})
    stranger = nn.Dense(2)
    assert stranger not in index and 3 not in index
    with pytest.raises(PathError, match="is not inside"):
        index.path_of(stranger.weight)
    with pytest.raises(PathTypeError, match="Block or Parameter"):
        index.path_of("0.weight")


@pytest.mark.parametrize("build", [book_mlp, tied_mlp, nested_custom, book_rgnet])
def test_key_index_fast_path_equals_the_full_one(build):
    # Without blocks of their own key scheme, attribute paths are Gluon's keys: the short
    # path must give exactly what the full one gives.
    from gluon_params_kit._core import gluon as _backbone
    net = build()
    blocks = {}
    keys, attrs = _backbone.gluon_keys(net), _backbone.attribute_paths(net, blocks)
    assert list(keys) == list(attrs)
    assert blocks == dict(named_blocks(net, aliases=True))  # the same walk, every path
    fast = _backbone._plain_key_index(keys, blocks)
    full = _backbone._full_key_index(_backbone.gluon_keys(net), attrs, blocks)
    assert list(fast.keys.items()) == list(full.keys.items())
    assert fast.groups == full.groups and fast.canonical == full.canonical
    assert fast.use_of == full.use_of and _backbone.key_index(net).blocks == blocks


def test_key_index_keeps_the_aliases_of_blocks_with_their_own_keys():
    from mxnet.gluon import rnn

    from gluon_params_kit._core import gluon as _backbone
    index = _backbone.key_index(rnn.LSTM(4))
    assert index.canonical["l0_i2h_weight"] == "_unfused.0.i2h_weight"
    assert index.use_of["l0_i2h_weight"] == "_unfused.0.i2h_weight"


# --------------------------------------------------------------------------- render_tree's two drawings

def _both_drawings(net, **kw):
    """render_tree's plain drawing (keys read off its walk) and the one from Gluon's keys."""
    from gluon_params_kit._core.gluon import key_index
    from gluon_params_kit.tree._render import _Drawing
    args = (net, True, kw.get("max_depth"), kw.get("indent", 2))
    return _Drawing(*args, None).lines(), _Drawing(*args, key_index(net)).lines()


@settings(suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(architectures(), st.sampled_from([None, 0, 1, 2]))
def test_render_tree_plain_drawing_is_the_one_from_gluon_keys(spec, max_depth):
    with fresh_names():
        net = build(spec)
    plain, keyed = _both_drawings(net, max_depth=max_depth)
    assert plain is not None and "\n".join(plain) == "\n".join(keyed)
    assert "\n".join(plain) == render_tree(net, max_depth=max_depth)


class _TwoNames(nn.Block):
    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.a = self.params.get("a", shape=[2, 3])  # a list shape, as Gluon keeps it
        self.b = self.a  # one Parameter under two attributes
        self.c = self.params.get_constant("c", [[1.0, 2.0]])


class _FixedShape(gluon.Parameter):
    @property
    def shape(self):
        return (7, 7)


def test_render_tree_odd_blocks_and_parameters():
    with fresh_names():
        net = nn.Sequential()
        two = _TwoNames()
        net.add(two, nn.Dense(2, in_units=1), two)
    assert render_tree(net).splitlines() == [
        "<root>  Sequential  'sequential0'",
        "  0  _TwoNames  '_twonames0'",
        "    0.a  (2, 3)  float32  shared: 0.b, 2.a, 2.b",
        "    0.b  (2, 3)  float32  shared -> 0.a",
        "    0.c  (1, 2)  float32  grad_req=null  shared: 2.c",
        "  1  Dense  'dense0'",
        "    1.weight  (2, 1)  float32",
        "    1.bias    (2,)    float32",
        "  2  _TwoNames  '_twonames0'  same block as 0"]
    fixed = nn.Dense(2, in_units=3)
    fixed._reg_params["weight"] = _FixedShape("w", shape=(2, 3))  # its own shape property
    assert "  weight  (7, 7)  float32" in render_tree(fixed).splitlines()


def test_render_tree_asks_gluon_when_keys_are_not_the_attribute_paths():
    with fresh_names():
        net = nn.Sequential()
        net.add(nn.Dense(2, in_units=1), nn.Dense(2, in_units=1))
    keys = net[1]._collect_params_with_prefix  # one instance renames its keys
    net[1]._collect_params_with_prefix = lambda prefix="": {
        k.replace("weight", "W"): v for k, v in keys(prefix).items()}
    assert render_tree(net).splitlines()[-2:] == ["    1.W     (2, 1)  float32  attribute weight",
                                                  "    1.bias  (2,)    float32"]
    plain, _ = _both_drawings(net)
    assert plain is None  # the plain drawing saw it and gave way
    with fresh_names():
        dotted = nn.Sequential()  # child keys with a '.': two Parameters get one key
        inner = nn.Sequential()
        inner.add(nn.Dense(2, in_units=1))
        dotted.register_child(inner, "x")
        dotted.register_child(nn.Dense(3, in_units=1), "x.0")
    lines = render_tree(dotted).splitlines()  # Gluon's keys keep one; both are drawn
    assert [ln.split("  ")[-3:-1] for ln in lines if "weight" in ln] == [
        ["x.0.weight", "(2, 1)"], ["x.0.weight", "(3, 1)"]]


def test_render_tree_cuts_a_deep_net_and_still_finds_its_keys():
    with fresh_names():
        net = cur = nn.Sequential()
        for _ in range(40):  # deeper than the drawing's first padding table
            nxt = nn.Sequential()
            cur.add(nxt)
            cur = nxt
        dense = nn.Dense(2, in_units=2)
        cur.add(dense)
        net.add(nn.Dense(2, in_units=2, params=dense.params))
    top = render_tree(net, max_depth=0)
    assert top == "<root>  Sequential  'sequential0'  ... (2 children, 2 parameters inside)"
    assert render_tree(net, max_depth=1).splitlines()[-1] == (
        "    1.bias    (2,)    float32  shared -> " + "0." * 40 + "0.bias")


def test_keys_are_attribute_paths_sees_own_key_schemes():
    from gluon_params_kit._core.gluon import keys_are_attribute_paths
    plain = nn.Sequential()
    plain.add(nn.Dense(2), nn.Dense(3))
    assert keys_are_attribute_paths([b for _, b in walk(plain)])
    assert not keys_are_attribute_paths([b for _, b in walk(gluon.rnn.LSTM(3))])


def test_all_paths_lists_keys_only_and_attributes_adds_the_aliases(mode):
    """Issue 32.13: a recurrent weight's attribute path is no key; all_paths agrees with
    named_parameters(aliases=True), tied_groups() and Gluon's own keys."""
    from mxnet.gluon import rnn

    import gluon_params_kit as gpk
    from gluon_params_kit.errors import PathTypeError
    from gluon_params_kit.tree import PathIndex
    net = nn.Sequential()
    lstm = rnn.LSTM(5, input_size=4)
    net.add(nn.Dense(4, in_units=3), lstm, rnn.LSTM(5, input_size=4, params=lstm.params))
    weight = lstm.l0_i2h_weight
    keys = [k for k, p in net._collect_params_with_prefix().items() if p is weight]
    assert keys == ["1._unfused.0.i2h_weight", "2._unfused.0.i2h_weight"]
    assert path_of(net, weight, all_paths=True) == keys
    assert [k for k, p in named_parameters(net, aliases=True).items() if p is weight] == keys
    assert list(gpk.tied_groups(net).values())[0].paths == tuple(keys)
    aliases = ["1.l0_i2h_weight", "2.l0_i2h_weight"]
    assert path_of(net, weight, attributes=True) == keys + aliases
    assert path_of(net, weight, all_paths=True, attributes=True) == keys + aliases
    assert path_of(net, net[0].weight, attributes=True) == ["0.weight"]  # a key is no alias
    assert get(net, "2.l0_i2h_weight") is weight  # the alias is still accepted
    assert PathIndex(net).path_of(weight, attributes=True) == keys + aliases
    with pytest.raises(PathTypeError, match="attributes must be True or False, got .yes."):
        path_of(net, weight, attributes="yes")
