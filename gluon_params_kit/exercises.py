"""The chapter's five exercises, answered in code that returns what it found.

Each answer is a function returning plain data (so tests can assert on it) and builds its
networks inside ``fresh_names()``: auto names in the answers do not depend on what the
process built before. The notebooks show the same answers as a few lines in the exercise's
own cell, for the learner to change; these functions are the tested version. Those that
return words take ``lang='en'`` or ``lang='vi'`` (the Vietnamese edition's language).
"""
from __future__ import annotations

import math
from typing import Dict, List

import numpy as onp

from ._core.compat import gluon, is_np_array, mx
from ._core.gluon import check_block, is_deferred
from ._core.validate import check_number, shown
from .chapter import FixedHiddenMLP, mlp, shared_mlp
from .errors import ParamsKitError
from .tree import fresh_names, named_parameters

__all__ = ["LANGUAGES", "count_parameter_reads", "deferred_init_demo", "fixed_hidden_mlp_parameters",
           "initializer_properties", "sharing_savings", "step_table", "train_shared_mlp", "why_share"]

#: The languages the answers in words are written in: English and Vietnamese.
LANGUAGES = ("en", "vi")


def _language(lang, function: str) -> str:
    if not isinstance(lang, str) or lang not in LANGUAGES:  # an array's `in` is no answer
        raise ParamsKitError(f"{function}: lang={shown(lang)} is not a language of the answers; "
                             f"expected one of {', '.join(map(repr, LANGUAGES))}")
    return lang


def _input(shape):
    """Uniform [0, 1) input from numpy's own generator: MXNet's stream is left alone."""
    data = onp.random.default_rng(0).uniform(size=shape).astype("float32")
    return mx.np.array(data) if is_np_array() else mx.nd.array(data)


def count_parameter_reads(block, *inputs) -> Dict[str, int]:
    """How many times one forward pass of ``block`` reads each Parameter's value.

    Every layer reads its Parameters' ``data()`` once per call, so a layer called twice
    reads its Parameters twice. Counted on the Parameter objects themselves (a tied
    Parameter is one count however many paths lead to it); nothing else changes.
    Shapes must be known: a first forward that completes deferred initialization reads
    values once more, so it would not count uses.

    Returns:
        path -> number of ``data()`` reads during the forward pass.

    Raises:
        ParamsKitError: a Parameter of ``block`` still waits for its shape (run a forward first).

    Examples:
        >>> from gluon_params_kit.chapter import shared_mlp
        >>> net = shared_mlp(); net.initialize(); x = mx.nd.ones((2, 20)); _ = net(x)
        >>> reads = count_parameter_reads(net, x)
        >>> reads['1.weight'], reads['0.weight']
        (2, 1)
    """
    check_block(block, ParamsKitError)
    params = named_parameters(block)
    pending = [path for path, p in params.items() if is_deferred(p)]
    if pending:
        raise ParamsKitError(f"count_parameter_reads: parameters {pending} of block have no shape yet; "
                             f"run one forward pass first (it completes their initialization)")
    counts = {path: 0 for path in params}

    def counting(path, read):
        def data(*args, **kwargs):
            counts[path] += 1
            return read(*args, **kwargs)
        return data

    for path, p in params.items():
        p.data = counting(path, p.data)  # an instance attribute shadows the method
    try:
        block(*inputs)
    except Exception as exc:  # the user's net or inputs: in the kit's words, nothing changed
        raise ParamsKitError(f"count_parameter_reads: the forward pass of {type(block).__name__} "
                             f"{block.name!r} on {', '.join(shown(x) for x in inputs) or 'no input'} failed "
                             f"({type(exc).__name__}: {exc})") from exc
    finally:
        for p in params.values():
            del p.data
    return counts


def fixed_hidden_mlp_parameters() -> Dict[str, dict]:
    """Exercise 1: the parameters of the book's ``FixedHiddenMLP``.

    Returns:
        path -> dict(name, shape, grad_req, uses): the constant ``rand_weight`` is a
        parameter too (``grad_req='null'``, never trained); ``uses`` is how many times
        a forward pass read it (:func:`count_parameter_reads`), so the one Dense layer,
        called twice, shows 2.

    Examples:
        >>> info = fixed_hidden_mlp_parameters()
        >>> {p: (r['shape'], r['grad_req'], r['uses']) for p, r in info.items()}
        {'rand_weight': ((20, 20), 'null', 1), 'dense.weight': ((20, 20), 'write', 2), 'dense.bias': ((20,), 'write', 2)}
    """
    with fresh_names():
        net = FixedHiddenMLP()
    net.initialize()
    x = _input((2, 20))
    net(x)
    uses = count_parameter_reads(net, x)
    return {path: {"name": p.name, "shape": tuple(p.shape), "grad_req": p.grad_req, "uses": uses[path]}
            for path, p in named_parameters(net).items()}


def _bilinear(shape):
    f = math.ceil(shape[3] / 2.0)
    c = (2 * f - 1 - f % 2) / (2.0 * f)
    k = onp.zeros(shape[2:], dtype="float32")
    for i in range(shape[2]):
        for j in range(shape[3]):
            k[i, j] = (1 - abs(i / f - c)) * (1 - abs(j / f - c))
    return k


def initializer_properties(shape=(64, 128), *, lang: str = "en") -> List[dict]:
    """Exercise 2: each built-in initializer applied, its defining property measured.

    Args:
        shape: the ``(fan_out, fan_in)`` of the parameter each initializer fills.
        lang: the language of ``property``: ``'en'`` or ``'vi'``.

    Returns:
        One record per initializer: ``name``, ``property`` (what defines it),
        ``measured`` and ``ok``. Tolerances are five standard errors of the estimate.

    Raises:
        ParamsKitError: ``lang`` is not one of :data:`LANGUAGES`.

    Examples:
        >>> rows = initializer_properties()
        >>> all(r['ok'] for r in rows), len(rows)
        (True, 9)
        >>> initializer_properties(lang='vi')[4]['property']
        'trung bình 0, độ lệch chuẩn 0.02'
    """
    vi = _language(lang, "initializer_properties") == "vi"
    if not (isinstance(shape, tuple) and len(shape) == 2):
        raise ParamsKitError(f"initializer_properties: shape must be (fan_out, fan_in), got {shown(shape)}")
    for dim in shape:
        check_number(dim, "shape", ParamsKitError, integer=True, minimum=1, maximum=4096,
                     where="initializer_properties")
    fan_out, fan_in = shape
    n = fan_out * fan_in
    avg = (fan_in + fan_out) / 2.0

    def values(init, shp=shape):
        p = gluon.Parameter("w", shape=shp)
        p.initialize(init=init, force_reinit=True)
        return p.data().asnumpy()

    rows = []

    def record(name, prop, measured, ok):
        rows.append({"name": name, "property": prop, "measured": measured, "ok": bool(ok)})

    def words(en: str, vi_text: str) -> str:
        return vi_text if vi else en

    w = values(mx.init.Zero())
    record("Zero", words("all 0", "mọi giá trị bằng 0"), float(abs(w).max()), (w == 0).all())
    w = values(mx.init.One())
    record("One", words("all 1", "mọi giá trị bằng 1"), float(w.min()), (w == 1).all())
    w = values(mx.init.Constant(0.5))
    record("Constant(0.5)", words("all 0.5", "mọi giá trị bằng 0.5"), float(w.mean()), (w == 0.5).all())
    w = values(mx.init.Uniform(0.07))
    record("Uniform(0.07)", words("in [-0.07, 0.07], std 0.07/sqrt(3)",
                                  "trong [-0.07, 0.07], độ lệch chuẩn 0.07/sqrt(3)"), float(w.std()),
           abs(w).max() <= 0.07 and abs(w.std() - 0.07 / math.sqrt(3)) < 5 * 0.07 / math.sqrt(3 * n))
    w = values(mx.init.Normal(0.02))
    record("Normal(0.02)", words("mean 0, std 0.02", "trung bình 0, độ lệch chuẩn 0.02"), float(w.std()),
           abs(w.std() - 0.02) < 5 * 0.02 / math.sqrt(2 * n) and abs(w.mean()) < 5 * 0.02 / math.sqrt(n))
    w = values(mx.init.Orthogonal(scale=1.0))
    gram = w @ w.T  # rows are orthonormal when fan_out <= fan_in
    record("Orthogonal", "W W^T = I", float(abs(gram - onp.eye(fan_out)).max()),
           abs(gram - onp.eye(fan_out)).max() < 1e-4)
    w = values(mx.init.Xavier())
    bound = math.sqrt(3.0 / avg)
    record("Xavier", words(f"uniform in +-sqrt(3/fan_avg) = {bound:.4f}",
                           f"phân phối đều trong +-sqrt(3/fan_avg) = {bound:.4f}"), float(abs(w).max()),
           abs(w).max() <= bound and abs(w).max() > 0.95 * bound)
    w = values(mx.init.MSRAPrelu(slope=0.25))
    std = math.sqrt(2.0 / (1 + 0.25 ** 2) / avg)
    record("MSRAPrelu(0.25)", words(f"gaussian, std sqrt(2/(1+a^2)/fan_avg) = {std:.4f}",
                                    f"phân phối chuẩn, độ lệch chuẩn sqrt(2/(1+a^2)/fan_avg) = {std:.4f}"),
           float(w.std()), abs(w.std() - std) < 5 * std / math.sqrt(2 * n))
    kshape = (2, 1, 4, 4)
    w = values(mx.init.Bilinear(), kshape)
    want = _bilinear(kshape)
    record("Bilinear", words("each kernel is the bilinear upsampling filter",
                             "mỗi nhân là bộ lọc phóng to song tuyến tính"), float(abs(w - want).max()),
           all(onp.allclose(w[i, 0], want, atol=1e-6) for i in range(kshape[0])))
    return rows


def deferred_init_demo() -> dict:
    """Exercise 3: parameters after ``initialize()`` but before the first forward.

    Returns:
        ``before``: path -> shape with unknown input dimensions (0 in nd mode, -1 in
        np mode); ``data_error``: the exception type ``data()`` raised; ``after``:
        path -> shape once a forward pass has inferred them.

    Examples:
        >>> r = deferred_init_demo()
        >>> r['before']['0.weight'], r['data_error'], r['after']['0.weight']
        ((256, 0), 'DeferredInitializationError', (256, 20))
    """
    with fresh_names():
        net = mlp()
    net.initialize()
    before = {p: tuple(v.shape) for p, v in named_parameters(net).items()}
    try:
        net[0].weight.data()
        error = None
    except gluon.parameter.DeferredInitializationError as exc:
        error = type(exc).__name__
    net(_input((2, 20)))
    after = {p: tuple(v.shape) for p, v in named_parameters(net).items()}
    return {"before": before, "data_error": error, "after": after}


def train_shared_mlp(steps: int = 5, lr: float = 0.1) -> List[dict]:
    """Exercise 4: train the tied MLP; record each layer's parameters and gradients per step.

    Alongside the tied net runs an untied twin with the same values (its layers 1 and 2
    have separate Parameters). Each step records, for every layer's parameters (layer 2's
    too, which are layer 1's), the value's norm and mean and the gradient's norm, before
    the update; and for the shared weight: its gradient, the two per-use gradients of the
    twin, and the largest difference between the shared gradient and their sum.
    :func:`step_table` prints the log as a table.

    Returns:
        One dict per step: ``loss``, ``layers`` (path -> ``norm``, ``mean``, ``grad_norm``,
        ``shared_with``), ``shared_grad_norm``, ``use_grad_norms`` (two), ``max_abs_diff``.

    Examples:
        >>> log = train_shared_mlp(steps=3)
        >>> [s['max_abs_diff'] < 1e-6 for s in log]
        [True, True, True]
        >>> log[-1]['loss'] < log[0]['loss']
        True
    """
    check_number(steps, "steps", ParamsKitError, integer=True, minimum=1, maximum=10_000, where="train_shared_mlp")
    check_number(lr, "lr", ParamsKitError, above=0, where="train_shared_mlp")
    with fresh_names():
        tied = shared_mlp()
        twin = gluon.nn.Sequential()
        for units, act in [(8, "relu"), (8, "relu"), (8, "relu"), (10, None)]:
            twin.add(gluon.nn.Dense(units, activation=act))
    x, y = _input((16, 20)), _input((16, 10))
    tied.initialize(mx.init.Xavier())
    twin.initialize()
    tied(x), twin(x)
    for i, src in enumerate([tied[0], tied[1], tied[1], tied[3]]):
        twin[i].weight.set_data(src.weight.data().copy())
        twin[i].bias.set_data(src.bias.data().copy())
    loss_fn = gluon.loss.L2Loss()
    trainer = gluon.Trainer(tied.collect_params(), "sgd", {"learning_rate": lr})
    aliases = named_parameters(tied, aliases=True)  # layer 2's paths too: every layer is listed
    log = []
    for _ in range(steps):
        losses = []
        for net in (tied, twin):
            with mx.autograd.record():
                loss = loss_fn(net(x), y)
            loss.backward()
            losses.append(float(loss.mean().asnumpy()))
        shared = tied[1].weight.grad().asnumpy()
        uses = [twin[1].weight.grad().asnumpy(), twin[2].weight.grad().asnumpy()]
        log.append({
            "loss": losses[0],
            "layers": {p: {"norm": float(onp.linalg.norm(v.data().asnumpy())),
                           "mean": float(v.data().asnumpy().mean()),
                           "grad_norm": float(onp.linalg.norm(v.grad().asnumpy())),
                           "shared_with": [q for q, w in aliases.items() if w is v and q != p]}
                       for p, v in aliases.items()},
            "shared_grad_norm": float(onp.linalg.norm(shared)),
            "use_grad_norms": [float(onp.linalg.norm(u)) for u in uses],
            "max_abs_diff": float(abs(shared - (uses[0] + uses[1])).max()),
        })
        # Keep the twin equal to the tied net: step the tied one, copy its values over.
        trainer.step(x.shape[0])
        for i, src in enumerate([tied[0], tied[1], tied[1], tied[3]]):
            twin[i].weight.set_data(src.weight.data().copy())
            twin[i].bias.set_data(src.bias.data().copy())
    return log


def sharing_savings(block) -> dict:
    """Exercise 5: how many parameter values sharing saves in ``block``.

    Returns:
        ``without_sharing`` (every use counted), ``with_sharing`` (each Parameter
        once), and ``saved``. Deferred (unknown) dimensions count as 0.

    Examples:
        >>> net = shared_mlp(); net.initialize(); _ = net(mx.nd.ones((2, 20)))
        >>> sharing_savings(net)
        {'without_sharing': 402, 'with_sharing': 330, 'saved': 72}
    """
    def size(p):
        return int(onp.prod(p.shape)) if p.shape else 0

    every = sum(size(p) for p in named_parameters(block, aliases=True).values())
    unique = sum(size(p) for p in named_parameters(block).values())
    return {"without_sharing": every, "with_sharing": unique, "saved": every - unique}


def step_table(log: List[dict], *, lang: str = "en") -> str:
    """Exercise 4's log as a compact table: one row per step and parameter.

    Columns: the step, the loss, the parameter's path (``= 1.weight`` when it is another
    layer's), its value's norm and mean, its gradient's norm; headed in ``lang`` (``'en'``
    or ``'vi'``).

    Raises:
        ParamsKitError: ``lang`` is not one of :data:`LANGUAGES`.

    Examples:
        >>> log = train_shared_mlp(steps=1)
        >>> print(step_table(log).splitlines()[0])
        step  loss      parameter             |value|     mean       |grad|
        >>> print(step_table(log, lang='vi').splitlines()[0])
        bước  mất mát   tham số                |giá trị| trung bình   |gradient|
    """
    if not (isinstance(log, list) and all(isinstance(step, dict) and isinstance(step.get("layers"), dict)
                                          for step in log)):
        raise ParamsKitError(f"step_table: log must be the list train_shared_mlp() returns, got {shown(log)}")
    heads = (("bước", "mất mát", "tham số", "|giá trị|", "trung bình", "|gradient|")
             if _language(lang, "step_table") == "vi" else ("step", "loss", "parameter", "|value|", "mean", "|grad|"))
    lines = [f"{heads[0]:5} {heads[1]:9} {heads[2]:21} {heads[3]:>8} {heads[4]:>8} {heads[5]:>12}"]
    for i, step in enumerate(log):
        for path, row in step["layers"].items():
            owner = [q for q in row["shared_with"] if q < path]
            label = f"{path} = {owner[0]}" if owner else path
            lines.append(f"{i:<5} {step['loss']:<9.4f} {label:21} {row['norm']:8.4f} {row['mean']:8.4f} "
                         f"{row['grad_norm']:12.6f}")
    return "\n".join(lines)


def why_share(block, *, lang: str = "en") -> List[str]:
    """Exercise 5 in words: why sharing parameters is a good idea, with ``block``'s numbers.

    Args:
        block: an initialized block whose shapes are known.
        lang: ``'en'`` or ``'vi'``: the language of the three reasons.

    Raises:
        ParamsKitError: ``lang`` is not one of :data:`LANGUAGES`.

    Examples:
        >>> from gluon_params_kit.chapter import shared_mlp
        >>> net = shared_mlp(); net.initialize(); _ = net(mx.nd.ones((2, 20)))
        >>> print(why_share(net)[0])
        Fewer values to store and learn: 330 instead of 402 (72 saved, 18%).
        >>> print(why_share(net, lang='vi')[0])
        Ít giá trị hơn để lưu và học: 330 thay vì 402 (bớt 72, 18%).
    """
    vi = _language(lang, "why_share") == "vi"
    counts = sharing_savings(block)
    step = train_shared_mlp(steps=1)[0]
    share = counts["saved"] / counts["without_sharing"] if counts["without_sharing"] else 0.0
    if vi:
        return [
            f"Ít giá trị hơn để lưu và học: {counts['with_sharing']} thay vì "
            f"{counts['without_sharing']} (bớt {counts['saved']}, {share:.0%}).",
            "Mọi lần dùng cùng dạy một bộ trọng số: gradient chung bằng tổng gradient của các lần dùng "
            f"(sai khác lớn nhất {step['max_abs_diff']:.1e}), nên tầng học cùng lúc từ mọi chỗ nó được "
            "dùng.",
            "Nó nói lên điều mô hình cần làm: cùng một phép biến đổi ở nhiều chỗ (cùng một bộ lọc ở mọi "
            "vị trí, cùng một ô ở mọi bước thời gian, một embedding chung cho đầu vào và đầu ra của mô "
            "hình ngôn ngữ), một giả định giúp cần ít dữ liệu hơn và tổng quát hoá tốt hơn.",
        ]
    return [
        f"Fewer values to store and learn: {counts['with_sharing']} instead of "
        f"{counts['without_sharing']} ({counts['saved']} saved, {share:.0%}).",
        "Every use teaches the same weights: the shared gradient is the sum of the uses' gradients "
        f"(largest difference {step['max_abs_diff']:.1e}), so the layer learns from both places it "
        "sits in at once.",
        "It states what the model should do: the same transformation in several places (the same "
        "filter at every position, the same cell at every time step, one word embedding for a "
        "language model's input and output), a prior that needs less data and generalizes better.",
    ]
