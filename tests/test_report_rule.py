"""One report rule: every path-keyed answer of the kit is a ``Report``.

Each result below is a read-only Mapping whose lookup takes any path form, with
``to_records()``, text (that fits a width) and HTML drawn from the same table; subclasses
fill only the table, footer and record hooks (``Summary``, not one table, draws through the
text and HTML hooks), and every report is built through its constructor.
"""
import importlib
import math
import pkgutil
from collections.abc import Mapping
from html.parser import HTMLParser

import mxnet as mx
import pytest
from fixtures import CPU2, tied_mlp
from mxnet import gluon
from mxnet.gluon import nn

import gluon_params_kit as gpk
from gluon_params_kit import fresh_names
from gluon_params_kit._core.report import Report
from gluon_params_kit.chapter import shared_mlp
from gluon_params_kit.errors import InspectionError, PathError


def _net(init=mx.init.One()):
    """``Sequential(Dense(2, in_units=3))``, initialized to ones (bias: its own zeros)."""
    with fresh_names():
        net = nn.Sequential()
        net.add(nn.Dense(2, in_units=3))
    net.initialize(init)
    return net


def _looks_up_every_form(report, key="0.weight"):
    """``report`` is a Report and a Mapping; book and tuple forms find ``key``."""
    assert isinstance(report, Report) and isinstance(report, Mapping)
    dotted = key.split(".")
    book = "".join(f"[{s}]" for s in dotted[:-1]) + "." + dotted[-1]
    as_tuple = tuple(int(s) if s.isdigit() else s for s in dotted)
    assert report[book] == report[as_tuple] == report[key]
    assert book in report and as_tuple in report and "9.nowhere" not in report
    with pytest.raises(PathError):
        report["9.nowhere"]
    assert len(report.to_records()) == len(report) == len(list(report))


# --------------------------------------------------------------------------- each result

def test_stats_is_a_report_of_param_stats():
    report = gpk.stats(_net())
    _looks_up_every_form(report)
    assert list(report) == ["0.weight", "0.bias"] and report.grads is False
    record = report.to_records()[0]
    assert {k: record[k] for k in ("path", "state", "size", "mean", "std", "min", "max", "nan")} == \
        dict(path="0.weight", state="ok", size=6, mean=1.0, std=0.0, min=1.0, max=1.0, nan=0)
    assert math.isclose(record["l2"], math.sqrt(6)) and sum(record["hist"]) == 6
    lines = str(report).splitlines()
    assert lines[0] == "value statistics of Sequential 'sequential0': 2 parameters"
    assert lines[1].split() == ["path", "state", "size", "mean", "std", "min", "max", "l2", "zeros",
                                "nan", "inf", "histogram"]
    assert lines[3].split()[:7] == ["0.weight", "ok", "6", "1", "0", "1", "1"]


def test_stats_footer_says_which_parameters_have_no_numbers():
    with fresh_names():
        net = nn.Dense(2)
    report = gpk.stats(net)
    assert str(report).splitlines()[-1] == "No numbers: 2 parameters uninitialized"
    assert report.to_records()[1]["mean"] is None


def test_provenance_is_a_report_of_records():
    net = _net()
    gpk.InitPlan([("weight", "ones")], default="zeros").apply(net, seed=3)
    report = gpk.provenance(net)
    _looks_up_every_form(report)
    assert report["0.bias"]["rule"] == "layer default" and isinstance(report["0.weight"]["seed"], int)
    records = report.to_records()
    assert [r["path"] for r in records] == ["0.weight", "0.bias"]
    assert {k: records[0][k] for k in ("rule", "spec", "stale")} == \
        {"rule": "weight", "spec": '["one", {}]', "stale": None}
    net.initialize(force_reinit=True)
    stale = gpk.provenance(net)
    assert stale.to_records()[0]["rule"] == "weight" and stale.to_records()[0]["stale"].startswith(
        "values replaced")
    n_stale = sum(r["stale"] is not None for r in stale.to_records())
    assert str(stale).splitlines()[0] == f"provenance of Sequential's 2 parameters: 2 recorded, {n_stale} stale"
    assert "stale: values replaced" in str(stale).splitlines()[3]


def test_check_tied_gradients_is_a_report_of_floats():
    with fresh_names():
        net = shared_mlp()
    net.initialize()
    report = gpk.check_tied_gradients(net, mx.nd.ones((2, 4)), lambda out: out.sum())
    _looks_up_every_form(report, "1.weight")
    assert list(report) == ["1.weight", "1.bias"]
    assert report["[2].weight"] == report["1.weight"]  # the tied Parameter's other path
    assert all(isinstance(v, float) and v < 1e-5 for v in report.values())
    record = report.to_records()[0]
    assert (record["path"], record["paths"], record["uses"]) == ("1.weight", ["1.weight", "2.weight"], 2)
    assert record["rel_diff"] == report["1.weight"] <= report.max_rel_diff
    assert record["max_abs_diff"] <= report.max_abs_diff and record["broken"] is False
    lines = str(report).splitlines()
    assert lines[1].split()[:4] == ["path", "other", "paths", "uses"]
    assert lines[3].split()[:3] == ["1.weight", "2.weight", "2"] and lines[3].split()[-1] == "ok"
    assert lines[-2].startswith("Largest relative difference: ") and "over 2 tied parameter(s)" in lines[-2]


def test_tie_returns_a_report_of_pairs():
    with fresh_names():
        a, b = nn.Sequential(), nn.Sequential()
        a.add(nn.Dense(4, in_units=3))
        b.add(nn.Dense(4))
    report = gpk.tie(b, a)
    _looks_up_every_form(report)
    assert dict(report) == {"0.weight": "0.weight", "0.bias": "0.bias"}
    assert report.to_records() == [{"target": "0.weight", "source": "0.weight"},
                                   {"target": "0.bias", "source": "0.bias"}]
    assert str(report).splitlines() == [
        "tied 2 parameter(s) of Sequential 'sequential1' to Sequential 'sequential0'",
        "target    source", "-" * 18, "0.weight  0.weight", "0.bias    0.bias"]
    assert b[0].weight is a[0].weight


def test_changes_is_a_report_with_a_column_per_attribute():
    net = _net()
    report = gpk.set_multipliers(net, lr_mult={"weight": 0.5}, wd_mult={"bias": 0.0}, dry_run=True)
    _looks_up_every_form(report)
    assert report["[0].bias"] == {"wd_mult": (1.0, 0.0)} and report.dry_run
    assert report.to_records() == [{"path": "0.weight", "lr_mult": {"old": 1.0, "new": 0.5}},
                                   {"path": "0.bias", "wd_mult": {"old": 1.0, "new": 0.0}}]
    assert str(report).splitlines() == [
        "would change 2 parameter(s)",
        "path      lr_mult     wd_mult",
        "-" * 32,
        "0.weight  1.0 -> 0.5  -",
        "0.bias    -           1.0 -> 0.0"]
    assert net[0].weight.lr_mult == 1.0  # a dry run
    gpk.freeze(net)
    again = gpk.freeze(net, dry_run=True)
    assert again == {} and str(again) == "no changes (dry run)" and "<table" not in again._repr_html_()


def test_header_is_a_report_of_array_infos(tmp_path):
    net = _net()
    gpk.save(net, tmp_path / "n.params")
    header = gpk.read_header(tmp_path / "n.params")
    _looks_up_every_form(header)
    assert header[0] is header["0.weight"] and header[-1] is header["0.bias"]
    records = header.to_records()
    assert [(r["name"], r["shape"], r["dtype"], r["nbytes"]) for r in records] == \
        [("0.weight", (2, 3), "float32", 24), ("0.bias", (2,), "float32", 8)]
    lines = str(header).splitlines()
    assert lines[0] == f"Header({str(tmp_path / 'n.params')!r}: 2 arrays (dict), 8 elements, 32 bytes of data)"
    assert lines[1].split() == ["name", "shape", "dtype", "bytes", "offset"]
    assert lines[3].split()[:4] == ["0.weight", "(2,", "3)", "float32"] and lines[4].split()[3] == "8"
    with pytest.raises(PathError, match="no array '0.wieght' in this header of .*Did you mean '0.weight'"):
        header["0.wieght"]


class _Table(HTMLParser):
    """The cells of an HTML table: header cells and each body row's cells."""

    def __init__(self):
        super().__init__()
        self.tables, self.heads, self.rows, self._cell, self._in = 0, [], [], None, None

    def handle_starttag(self, tag, attrs):
        if tag == "table":
            self.tables += 1
        elif tag in ("thead", "tbody"):
            self._in = tag
        elif tag == "tr" and self._in == "tbody":
            self.rows.append([])
        elif tag in ("th", "td"):
            self._cell = ""

    def handle_data(self, data):
        if self._cell is not None:
            self._cell += data

    def handle_endtag(self, tag):
        if tag == "th":
            self.heads.append(self._cell)
        elif tag == "td":
            self.rows[-1].append(self._cell)
        if tag in ("th", "td"):
            self._cell = None


def test_move_report_html_is_a_table_with_columns():
    net = _net()
    report = gpk.move(net, CPU2)
    _looks_up_every_form(report)
    assert report["0.weight"] == (("cpu(0)",), ("cpu(0)", "cpu(1)"), "moved")
    assert report.to_records()[1] == {"path": "0.bias", "from": ["cpu(0)"], "to": ["cpu(0)", "cpu(1)"],
                                      "state": "moved"}
    table = _Table()
    table.feed(report._repr_html_())
    assert table.tables == 1 and table.heads == ["path", "from", "to", "state"]
    assert table.rows == [["0.weight", "cpu(0)", "cpu(0), cpu(1)", "moved"],
                          ["0.bias", "cpu(0)", "cpu(0), cpu(1)", "moved"]]
    lines = str(report).splitlines()
    assert lines[1].split() == ["path", "from", "to", "state"] and lines[-1] == "2 moved."
    assert lines[3].split() == ["0.weight", "cpu(0)", "cpu(0),", "cpu(1)", "moved"]
    with fresh_names():
        empty = gpk.move(nn.Sequential(), mx.cpu())
    assert str(empty).splitlines()[-1] == "no parameter to move." and len(empty) == 0


def test_load_and_training_reports_are_reports(tmp_path):
    net = _net()
    gpk.save(net, tmp_path / "n.params")
    report = gpk.load(_net(mx.init.Zero()), tmp_path / "n.params")
    _looks_up_every_form(report)
    assert report["[0].weight"] == {"key": "0.weight", "status": "loaded", "detail": ""}
    assert report.to_records() == [{"key": "0.weight", "status": "loaded", "detail": ""},
                                   {"key": "0.bias", "status": "loaded", "detail": ""}]
    assert str(report).splitlines()[1].split() == ["status", "key", "detail"]
    trainer = gluon.Trainer(net.collect_params(), "sgd", {"learning_rate": 0.1})
    gpk.save_training(net, trainer, tmp_path / "run.params", metadata={"epoch": 1})
    other = _net(mx.init.Zero())
    trained = gpk.load_training(other, gluon.Trainer(other.collect_params(), "sgd", {"learning_rate": 0.1}),
                                tmp_path / "run.params")
    _looks_up_every_form(trained)
    assert isinstance(trained, gpk.TrainingReport) and trained.metadata == {"epoch": 1}
    assert trained.dropped == [] and trained.renamed == {} and trained["0.bias"]["detail"] == ""
    assert str(trained).splitlines()[-1] == 'metadata: {"epoch": 1}'
    assert str(trained).splitlines()[-2].startswith("trainer: SGD, states of ")


def test_load_report_and_training_report_are_built_by_their_constructor(tmp_path, monkeypatch):
    built = []
    init = Report.__init__

    def counting(self, *args, **kwargs):
        built.append(self)
        init(self, *args, **kwargs)

    monkeypatch.setattr(Report, "__init__", counting)
    net = _net()
    gpk.save(net, tmp_path / "n.params")
    report = gpk.load(_net(mx.init.Zero()), tmp_path / "n.params")
    assert any(r is report for r in built) and isinstance(report, gpk.LoadReport)
    trainer = gluon.Trainer(net.collect_params(), "sgd")
    gpk.save_training(net, trainer, tmp_path / "run.params")
    built.clear()
    other = _net(mx.init.Zero())
    trained = gpk.load_training(other, gluon.Trainer(other.collect_params(), "sgd"), tmp_path / "run.params")
    assert any(r is trained for r in built)
    assert [type(r).__name__ for r in built].count("TrainingReport") == 1
    again = trained.replace(applied=False)  # a new report, through the constructor again
    assert any(r is again for r in built) and type(again) is gpk.TrainingReport
    assert again.metadata == trained.metadata and str(again).splitlines()[0].endswith(
        "(not applied): 2 loaded, 0 missing, 0 unexpected, 0 shape, 0 dtype, 0 tied")
    with pytest.raises(TypeError, match="not 'colour'"):
        trained.replace(colour="red")


# --------------------------------------------------------------------------- the rule itself

def _all_report_classes():
    for module in pkgutil.walk_packages(gpk.__path__, "gluon_params_kit."):
        if module.name != "gluon_params_kit.__main__":  # runs the command line
            importlib.import_module(module.name)
    found, todo = [], [Report]
    while todo:
        for sub in todo.pop().__subclasses__():
            if sub.__module__.startswith("gluon_params_kit."):
                found.append(sub)
            todo.append(sub)
    return found


def test_no_report_draws_itself_outside_the_hooks():
    classes = _all_report_classes()
    names = {c.__name__ for c in classes}
    assert {"Summary", "StatsReport", "InitReport", "InitPreview", "ProvenanceReport", "TiedGroups",
            "TieReport", "TiedGradientCheck", "Changes", "Header", "LoadReport", "TrainingReport",
            "DiffReport", "ReplicaReport", "MoveReport", "Checksums"} <= names
    drawn_directly = [(c.__name__, n) for c in classes for n in ("__str__", "__repr__", "_repr_html_")
                      if n in vars(c)]
    assert drawn_directly == []
    own_mapping = [(c.__name__, n) for c in classes
                   for n in ("__getitem__", "__iter__", "__len__", "__contains__", "key_of", "to_records",
                             "to_string") if n in vars(c)]
    assert own_mapping == []


def test_text_fits_a_width_and_rejects_a_bad_one():
    net = tied_mlp()
    net.initialize()  # deferred: the move's state says so at length
    report = gpk.move(net, mx.cpu(0))
    assert max(map(len, str(report).splitlines())) > 60
    narrow = report.to_string(width=60)
    assert max(map(len, narrow.splitlines())) <= 60 and "…" in narrow
    assert narrow.splitlines()[1].split() == ["path", "from", "to", "state"]
    assert narrow.splitlines()[-1] == str(report).splitlines()[-1]  # the counts, whole
    with pytest.raises(InspectionError, match="width"):
        report.to_string(width=3)
    assert repr(report) == str(report) == report.to_string()
    stats = gpk.stats(net)  # twelve columns cannot fit 40: the title wraps, no column is lost
    title, *table = stats.to_string(width=40).splitlines()
    assert len(title) <= 40 and table[0].startswith("  ") and table[1].split() == str(stats).splitlines()[1].split()


def test_checksums_title_keeps_the_digest():
    sums = gpk.checksum(_net())
    assert repr(sums).splitlines()[0] == f"Checksums of 2 parameters, digest {sums.digest}"
    assert sums.to_records()[0]["path"] == "0.weight" and sums[(0, "bias")] == sums["0.bias"]
