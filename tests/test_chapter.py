"""The book chapter "Parameter Management", cell by cell: outputs, names, values, statistics.

`GPK_REGEN_GOLDEN=1 pytest tests/test_chapter.py` rewrites tests/golden/chapter.txt on purpose
(the full `gluon-params chapter` transcript of a fresh process, with a header saying where it
was made; tests/transcripts.py compares it with today's run up to float rounding).
"""
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import gluon_params_kit  # noqa: F401  (numpy shim before mxnet)

# isort: split
import mxnet as mx
import numpy as onp
import pytest
from fixtures import array
from mxnet import autograd, gluon, npx
from transcripts import check_against_stored, claim, run_cli

from gluon_params_kit import chapter, fresh_names, named_parameters
from gluon_params_kit._book.chapter_cells import CELLS, Cell
from gluon_params_kit._book.replay import ReplayResult, rule
from gluon_params_kit._book.section_cells import SECTIONS
from gluon_params_kit._book.vietnamese import CELL_TITLES, SECTION_TITLES
from gluon_params_kit.errors import ParamsKitError
from gluon_params_kit.exercises import (
    count_parameter_reads,
    deferred_init_demo,
    fixed_hidden_mlp_parameters,
    initializer_properties,
    sharing_savings,
    step_table,
    train_shared_mlp,
    why_share,
)

KEYS = [c.key for c in CELLS]


@pytest.fixture(scope="module")
def replay():
    # Run the cells ourselves to keep each cell's namespace for direct assertions.
    was_np = mx.util.is_np_array()
    ns, outputs, snaps = {}, {}, {}
    with fresh_names():
        mx.random.seed(0)
        for cell in CELLS:
            outputs[cell.key] = chapter.run_cell(cell.source, ns)
            snaps[cell.key] = {
                "net": {p: v.data().asnumpy().copy() for p, v in named_parameters(ns["net"]).items()},
                "value": ns["_"],
            }
    if not was_np:
        npx.reset_np()
    return {"ns": ns, "outputs": outputs, "snaps": snaps, "result": chapter.run(quiet=True)}


def test_run_reproduces_all_cells_and_checks_pass(replay):
    result = replay["result"]
    assert result.ok, result.failures
    assert list(result.outputs) == KEYS and len(KEYS) == 17
    assert all(result.checks[k] >= 2 for k in KEYS)
    line = result.closing_line()
    assert line == f"chapter: 17 cells reproduced, {sum(result.checks.values())} checks passed"


def test_run_outputs_match_manual_replay(replay):
    assert replay["result"].outputs == replay["outputs"]


@pytest.mark.parametrize("key", KEYS)
def test_each_cell_passes_its_checks(replay, key):
    assert key not in replay["result"].failures
    assert replay["result"].checks[key] >= 2


def test_cell1_mlp_names_shapes_and_zero_biases(replay):
    snap = replay["snaps"]["1"]["net"]
    assert {p: v.shape for p, v in snap.items()} == {
        "0.weight": (256, 20), "0.bias": (256,), "1.weight": (10, 256), "1.bias": (10,)}
    assert not snap["0.bias"].any() and not snap["1.bias"].any()
    assert replay["snaps"]["1"]["value"].shape == (2, 10)


def test_cell2_prints_each_layers_parameter_dict(replay):
    assert replay["outputs"]["2"].splitlines() == [
        "dense0_ (", "  Parameter dense0_weight (shape=(256, 20), dtype=float32)",
        "  Parameter dense0_bias (shape=(256,), dtype=float32)", ")",
        "dense1_ (", "  Parameter dense1_weight (shape=(10, 256), dtype=float32)",
        "  Parameter dense1_bias (shape=(10,), dtype=float32)", ")"]


def test_cell5_gradient_zero_and_weight_shaped(replay):
    g = replay["snaps"]["5"]["value"]
    assert g.shape == (256, 20) and not g.asnumpy().any()


def test_cell8_regex_selections(replay):
    net = replay["ns"]["net"]  # the tied net by now; cell 8 used the MLP: rebuild it
    with fresh_names():
        mlp = chapter.mlp()
    assert set(mlp.collect_params(".*weight").keys()) == {"dense0_weight", "dense1_weight"}
    assert set(mlp.collect_params("dense0.*").keys()) == {"dense0_weight", "dense0_bias"}
    assert "sequential0_ (" in replay["outputs"]["8"]
    assert net is not mlp


def test_cells_are_numbered_as_in_the_book():
    assert KEYS == [str(i) for i in range(1, 18)]
    assert [c.title for c in CELLS][8:11] == ["Nested blocks: block1, block2, rgnet",
                                              "How the nested net is organized", "Reach into the nesting"]


def test_rgnet_structure(replay):
    rgnet = replay["ns"]["rgnet"]
    params = named_parameters(rgnet)
    assert len(params) == 18
    assert list(params)[:4] == ["0.0.0.weight", "0.0.0.bias", "0.0.1.weight", "0.0.1.bias"]
    assert list(params)[-2:] == ["1.weight", "1.bias"]
    assert params["1.bias"].name == "dense10_bias"
    assert rgnet[0][1][0].bias.shape == (32,)
    assert not rgnet[0][1][0].bias.data().asnumpy().any()
    assert "sequential1_ (" in replay["outputs"]["10"]


def test_init_cells_values(replay):
    snaps = replay["snaps"]
    w12 = snaps["12"]["net"]["0.weight"]
    assert abs(w12.std() - 0.01) < 5e-4
    assert (snaps["13"]["net"]["0.weight"] == 1).all() and (snaps["13"]["net"]["1.weight"] == 1).all()
    assert not snaps["13"]["net"]["0.bias"].any()
    w14 = snaps["14"]["net"]["0.weight"]
    assert abs(w14).max() <= (3 / ((20 + 256) / 2)) ** 0.5
    assert (snaps["14"]["net"]["1.weight"] == 42).all()
    w15 = onp.concatenate([snaps["15"]["net"]["0.weight"].ravel(), snaps["15"]["net"]["1.weight"].ravel()])
    a = abs(w15)
    assert ((w15 == 0) | ((a >= 5) & (a <= 10))).all()
    assert abs((w15 == 0).mean() - 0.5) < 0.03
    assert replay["outputs"]["14"] == "42.0\n"  # the book prints one value of the 42s
    assert replay["outputs"]["15"].startswith("Init dense0_weight (256, 20)\nInit dense1_weight (10, 256)\n")
    want = snaps["15"]["net"]["0.weight"] + 1
    want[0, 0] = 42
    assert onp.array_equal(snaps["16"]["net"]["0.weight"], want)


def test_tied_cell_identity_and_gradient_is_sum_of_uses(replay):
    net = replay["ns"]["net"]
    assert net[1].weight is net[2].weight and net[1].bias is net[2].bias
    assert float(net[2].weight.data()[0, 0]) == 100.0
    npx.set_np()  # the book's net lives in np mode (the autouse fixture resets it)
    with fresh_names():
        twin = gluon.nn.Sequential()
        for units in (8, 8, 8, 10):
            twin.add(gluon.nn.Dense(units, activation="relu" if units == 8 else None))
    twin.initialize()
    x = replay["ns"]["x"]
    twin(x)
    for i, src in enumerate([net[0], net[1], net[1], net[3]]):
        twin[i].weight.set_data(src.weight.data())
        twin[i].bias.set_data(src.bias.data())
    for n in (net, twin):
        with autograd.record():
            loss = (n(x) ** 2).sum()
        loss.backward()
    shared = net[1].weight.grad().asnumpy()
    summed = twin[1].weight.grad().asnumpy() + twin[2].weight.grad().asnumpy()
    assert abs(shared - summed).max() < 1e-6
    assert abs(summed).max() > 0  # the comparison is not between zeros


def test_checks_fail_when_a_cell_output_changes(monkeypatch):
    from gluon_params_kit._book import chapter_cells as cells

    changed = [Cell(c.key, c.title, c.source.replace("init.Constant(1)", "init.Constant(2)"),
                    c.check, c.before) for c in cells.CELLS]
    monkeypatch.setattr(cells, "CELLS", changed)
    result = chapter.run(quiet=True)
    assert not result.ok and list(result.failures) == ["13"]
    assert "all exactly 1" in result.failures["13"]
    assert "1 failed" in result.closing_line()


def test_run_restores_nd_mode_and_prints_headers(capsys):
    assert not mx.util.is_np_array()
    chapter.run(checks=False)
    assert not mx.util.is_np_array()
    out = capsys.readouterr().out
    assert out.count("── cell ") == 17
    assert out.rstrip().endswith("chapter: 17 cells reproduced, 0 checks passed")


def test_fresh_process_transcript_agrees_with_the_stored_one():
    """`gluon-params chapter` in a new process: identical to the book's code replayed on this
    machine, and the stored transcript (another machine's digits) agrees up to float rounding."""
    out = run_cli("chapter")
    assert out.splitlines()[-1].endswith(claim(17))
    check_against_stored("chapter.txt", out, "gluon-params chapter")


def test_in_process_replay_equals_fresh_process():
    """After other blocks and random draws, run() still shows exactly what the book's code
    shows in a fresh process on this machine."""
    gluon.nn.Dense(3)
    mx.nd.random.uniform(shape=(7,))
    result = chapter.run(quiet=True, book=True)
    assert result.identical and result.ok, result.differing
    assert result.fences == (result.sources if result.book_files == ["parameters_vn.md"] else {})


def test_book_code_in_a_jupyter_kernel_displays_the_same():
    """The cells alone, in a fresh Jupyter kernel (IPython's own display), show what run() shows."""
    nbformat = pytest.importorskip("nbformat")
    nbclient = pytest.importorskip("nbclient")
    nb = nbformat.v4.new_notebook()
    # The notebooks' set-up cell first: numpy 1.26 (Python 3.12) needs the kit's aliases.
    nb.cells = [nbformat.v4.new_code_cell("import gluon_params_kit")]
    nb.cells += [nbformat.v4.new_code_cell(c.source) for c in CELLS]
    nbclient.NotebookClient(nb, timeout=300, kernel_name="python3").execute()
    expected = chapter.run(quiet=True, checks=False).outputs
    assert not nb.cells[0].outputs
    for cell, nb_cell in zip(CELLS, nb.cells[1:]):
        shown = ""
        for o in nb_cell.outputs:
            if o.output_type == "stream":
                shown += o.text
            elif o.output_type == "execute_result":
                shown += o.data["text/plain"]
        assert shown == expected[cell.key], cell.key


# ----------------------------------------------------------------------------- both modes

def test_access_and_init_in_both_modes(mode):
    with fresh_names():
        net = chapter.mlp()
    net.initialize()
    net(array((2, 20), mode))
    assert list(net.collect_params().keys()) == ["dense0_weight", "dense0_bias", "dense1_weight", "dense1_bias"]
    assert net[0].params["dense0_weight"] is net[0].weight
    assert net[0].weight.grad().shape == (256, 20)
    cls = mx.np.ndarray if mode == "np" else mx.nd.NDArray
    assert isinstance(net[1].bias.data(), cls)
    net.initialize(mx.init.Constant(1), force_reinit=True)
    assert (net[0].weight.data().asnumpy() == 1).all()
    net[1].initialize(mx.init.Constant(42), force_reinit=True)
    assert (net[1].weight.data().asnumpy() == 42).all()
    net.initialize(chapter.MyInit(verbose=False), force_reinit=True)
    w = net[0].weight.data().asnumpy()
    assert ((w == 0) | ((abs(w) >= 5) & (abs(w) <= 10))).all()
    net[0].weight.data()[:] += 1
    net[0].weight.data()[0, 0] = 42
    assert float(net[0].weight.data()[0, 0].asnumpy()) == 42


def test_myinit_is_registered_and_prints(capsys):
    init = mx.init.create("myinit")
    assert isinstance(init, chapter.MyInit)
    p = gluon.Parameter("probe_weight", shape=(4, 6))
    p.initialize(init=init)
    assert capsys.readouterr().out == "Init probe_weight (4, 6)\n"
    assert mx.init.create(init.dumps())._kwargs == init._kwargs


# ----------------------------------------------------------------------------- exercises

def test_exercise1_fixed_hidden_mlp_parameters():
    info = fixed_hidden_mlp_parameters()
    assert list(info) == ["rand_weight", "dense.weight", "dense.bias"]
    assert info["rand_weight"]["grad_req"] == "null"
    assert info["dense.weight"]["shape"] == (20, 20)
    assert info["dense.weight"]["name"] == "dense0_weight"
    assert [r["uses"] for r in info.values()] == [1, 2, 2]


def test_parameter_reads_are_counted_from_the_forward_pass():
    with fresh_names():
        net = gluon.nn.Sequential()
        layer = gluon.nn.Dense(4, in_units=4)
        net.add(layer, gluon.nn.Dense(4, in_units=4), layer, layer)  # one layer called three times
    net.initialize()
    reads = count_parameter_reads(net, mx.nd.ones((1, 4)))
    assert reads == {"0.weight": 3, "0.bias": 3, "1.weight": 1, "1.bias": 1}
    assert "data" not in vars(net[0].weight)  # the counting wrapper is gone
    deferred = chapter.mlp()
    deferred.initialize()
    with pytest.raises(ParamsKitError, match=r"\['0.weight', '1.weight'\].*no shape yet"):
        count_parameter_reads(deferred, mx.nd.ones((1, 20)))


def test_exercise2_every_builtin_initializer_property():
    rows = initializer_properties()
    assert [r["name"] for r in rows] == ["Zero", "One", "Constant(0.5)", "Uniform(0.07)", "Normal(0.02)",
                                         "Orthogonal", "Xavier", "MSRAPrelu(0.25)", "Bilinear"]
    assert all(r["ok"] for r in rows), [r for r in rows if not r["ok"]]


def test_exercise3_deferred_shapes_and_error():
    r = deferred_init_demo()
    assert r["before"] == {"0.weight": (256, 0), "0.bias": (256,), "1.weight": (10, 0), "1.bias": (10,)}
    assert r["data_error"] == "DeferredInitializationError"
    assert r["after"]["1.weight"] == (10, 256)


def test_exercise4_shared_gradient_accumulates_both_uses():
    log = train_shared_mlp(steps=4)
    assert len(log) == 4
    for step in log:
        assert step["max_abs_diff"] < 1e-6
        assert min(step["use_grad_norms"]) > 0
        assert step["shared_grad_norm"] > max(step["use_grad_norms"]) * 0.5
    assert log[-1]["loss"] < log[0]["loss"]
    layers = log[0]["layers"]
    assert list(layers) == ["0.weight", "0.bias", "1.weight", "1.bias", "2.weight", "2.bias",
                            "3.weight", "3.bias"]
    assert layers["2.weight"] == {**layers["1.weight"], "shared_with": ["1.weight"]}
    assert layers["1.weight"]["grad_norm"] == pytest.approx(log[0]["shared_grad_norm"])
    assert log[1]["layers"]["0.weight"]["norm"] != layers["0.weight"]["norm"]  # it trained
    rows = step_table(log).splitlines()
    assert len(rows) == 1 + 4 * 8
    assert rows[5].split()[:4] == ["0", f"{log[0]['loss']:.4f}", "2.weight", "="]
    assert float(rows[5].split()[-1]) == pytest.approx(layers["2.weight"]["grad_norm"], abs=1e-6)


def test_exercise5_sharing_savings():
    with fresh_names():
        net = chapter.shared_mlp()
    net.initialize()
    net(mx.nd.ones((2, 20)))
    assert sharing_savings(net) == {"without_sharing": 402, "with_sharing": 330, "saved": 8 * 8 + 8}
    reasons = why_share(net)
    assert len(reasons) == 3
    assert reasons[0] == "Fewer values to store and learn: 330 instead of 402 (72 saved, 18%)."
    assert "sum of the uses' gradients" in reasons[1]


def test_the_core_does_not_import_the_book_and_myinit_comes_with_it():
    """'myinit' is registered by the book's module; the initializers work without importing it."""
    code = textwrap.dedent("""
        import sys
        import gluon_params_kit as gpk
        from gluon_params_kit.initializers import InitPlan, get_initializer
        print('chapter' in sys.modules.get('gluon_params_kit').__dict__, 'gluon_params_kit.chapter' in sys.modules)
        try:
            get_initializer('myinit')
        except gpk.InitializerError as exc:
            print('importing gluon_params_kit.chapter' in str(exc))
        import gluon_params_kit.chapter
        from mxnet.gluon import nn
        net = nn.Dense(4, in_units=6)
        InitPlan([('weight', 'myinit(verbose=False)')]).apply(net)
        w = net.weight.data().asnumpy()
        print(type(get_initializer('myinit')).__name__, bool(((w == 0) | ((abs(w) >= 5) & (abs(w) <= 10))).all()))
    """)
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                          cwd=str(Path(__file__).parents[1]))
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == ["False", "False", "True", "MyInit", "True"]


# ----------------------------------------------------------------------------- in Vietnamese

def test_every_cell_has_a_vietnamese_title():
    sections = {"chapter": CELLS, **{name: s.cells for name, s in SECTIONS.items()}}
    assert set(CELL_TITLES) == set(sections) == set(SECTION_TITLES)
    for name, cells in sections.items():
        assert list(CELL_TITLES[name]) == [c.key for c in cells], name
        translated = [c.key for c in cells if CELL_TITLES[name][c.key] != c.title]
        same = [c.title for c in cells if c.key not in translated]
        assert all(re.fullmatch(r"[\w.()]+", t) for t in same), same  # only a name stays as it is


def test_replay_in_vietnamese_titles_each_cell_and_closes_in_vietnamese(capsys):
    result = chapter.run(checks=False, lang="vi")
    out = capsys.readouterr().out
    rules = [ln for ln in out.splitlines() if ln.startswith("── ")]
    assert rules == [rule(f"ô {c.key}: {CELL_TITLES['chapter'][c.key]}") for c in CELLS]
    assert rules[16] == rule("ô 17: Tham số dùng chung")
    assert out.splitlines()[-1] == "chapter: chạy lại 17 ô, 0 phép kiểm chứng đạt" == result.closing_line("vi")
    assert result.outputs == chapter.run(checks=False, quiet=True).outputs  # the same cells, the same outputs


def test_closing_line_in_vietnamese_says_what_the_english_one_says():
    r = ReplayResult("chapter")
    r.outputs, r.checks = {"1": "a", "2": "b"}, {"1": 3, "2": 0}
    r.failures = {"2": "expected x"}
    r.book, r.book_files = {"1": "a", "2": "c"}, ["parameters_vn.md"]
    r.sources = r.fences = {"1": "s", "2": "t"}
    assert r.closing_line() == ("chapter: 2 cells reproduced, 3 checks passed, 1 failed: cell 2: expected x, "
                                "1/2 cells identical to the book's code (different: 2)")
    assert r.closing_line("vi") == ("chapter: chạy lại 2 ô, 3 phép kiểm chứng đạt, 1 không đạt: ô 2: expected x, "
                                    "1/2 ô giống hệt mã của sách (khác: 2)")
    r.book_files = None
    assert r.closing_line("vi").endswith("(không có các tệp của sách ở đây, nên mã nguồn của các ô chưa được so "
                                         "với chúng) (khác: 2)")
    r.book_error = "cell 1 raised ValueError: x"
    assert r.closing_line("vi").endswith(", không chạy lại được mã của sách: cell 1 raised ValueError: x")


def test_an_unknown_language_is_refused_before_anything_runs(capsys):
    for call in (lambda: chapter.run(lang="fr"), lambda: chapter.run_section("use-gpu", lang="fr"),
                 lambda: chapter.run_all(lang="fr")):
        with pytest.raises(ParamsKitError, match=r"lang='fr' is not a language of the replay; "
                                                 r"expected one of 'en', 'vi'"):
            call()
    assert capsys.readouterr().out == ""
    with pytest.raises(ParamsKitError, match=r"lang='fr'"):
        ReplayResult("x").closing_line("fr")


def test_cli_chapter_lang_vi_closing_line(capsys):
    from gluon_params_kit import cli

    assert cli.main(["chapter", "--lang", "vi", "--no-book", "-q"]) == 0
    assert re.fullmatch(r"chapter: chạy lại 17 ô, \d+ phép kiểm chứng đạt\n", capsys.readouterr().out)
    assert cli.main(["chapter", "--lang", "fr"]) == 2
    assert "invalid choice: 'fr' (choose from 'en', 'vi')" in capsys.readouterr().err


def test_exercise_answers_in_words_speak_english_or_vietnamese():
    with fresh_names():
        net = chapter.shared_mlp()
    net.initialize()
    net(mx.nd.ones((2, 20)))
    reasons = why_share(net, lang="vi")
    assert reasons[0] == "Ít giá trị hơn để lưu và học: 330 thay vì 402 (bớt 72, 18%)."
    assert len(reasons) == 3 and "tổng gradient của các lần dùng" in reasons[1]
    en, vi = initializer_properties(), initializer_properties(lang="vi")
    assert [r["name"] for r in en] == [r["name"] for r in vi] and [r["ok"] for r in vi] == [True] * 9
    assert vi[0]["property"] == "mọi giá trị bằng 0" and vi[5]["property"] == en[5]["property"] == "W W^T = I"
    log = train_shared_mlp(steps=1)
    head_en, head_vi = step_table(log).splitlines()[0], step_table(log, lang="vi").splitlines()[0]
    assert head_vi.split()[:3] == ["bước", "mất", "mát"] and head_en.split()[0] == "step"
    assert step_table(log, lang="vi").splitlines()[1:] == step_table(log).splitlines()[1:]
    for call in (lambda: why_share(net, lang="fr"), lambda: initializer_properties(lang="EN"),
                 lambda: step_table(log, lang=None)):
        with pytest.raises(ParamsKitError, match=r"lang=.* is not a language of the answers; "
                                                 r"expected one of 'en', 'vi'"):
            call()
