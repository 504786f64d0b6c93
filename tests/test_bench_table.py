"""The benchmark plumbing: result rows parsed and rendered, the README's table from the JSON.

No benchmark runs here (speed goals live in benchmarks/ only): these check that what
``make bench`` writes is read back the same way, and that README.md shows what
``benchmarks/results.json`` holds.
"""
import json
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[1] / "benchmarks"
sys.path.insert(0, str(BENCH))

import readme_table  # noqa: E402
import run  # noqa: E402


def test_printed_rows_are_parsed_with_their_figures():
    row = run.parse_line("stats_vs_x: ratio 1.48 (target <= 3.0) ok  [kit 69.4 ms, 5.8 GB/s, "
                         "native 46.8 ms]  (67% of it)")
    assert row == {"name": "stats_vs_x", "measured": "69.4 ms, 5.8 GB/s", "native": "46.8 ms",
                   "ratio": 1.48, "target": "<= 3.0", "ok": True, "note": "(67% of it)"}
    hand = run.parse_line("read_header_vs_nd_load: ratio 2.9e+03 (target >= 50.0) MISSED x")
    assert (hand["ratio"], hand["target"], hand["ok"], hand["measured"]) == (2900.0, ">= 50.0",
                                                                           False, "")
    assert run.parse_line("net: 100 Dense layers") is None
    assert run.parse_line("initplan_apply_seeded: ratio 5.81 (info)  [kit 28 ms]") is None


def test_rows_written_by_the_timing_helper_are_collected(tmp_path, monkeypatch, capsys):
    import _timing
    rows = tmp_path / "rows.jsonl"
    monkeypatch.setenv(_timing.ROWS_ENV, str(rows))
    assert _timing.line("a_vs_b", 2.5, 2.0, "  (note)", measured="5 ms", native="2 ms") is False
    assert _timing.line("c_vs_d", 80.0, 50.0, higher_is_better=True, fmt=".3g") is True
    printed = capsys.readouterr().out.splitlines()
    assert printed[0] == "a_vs_b: ratio 2.50 (target <= 2.0) MISSED  [kit 5 ms, native 2 ms]  (note)"
    recorded = [json.loads(t) for t in rows.read_text().splitlines()]
    assert recorded[0] == {"name": "a_vs_b", "measured": "5 ms", "native": "2 ms", "ratio": 2.5,
                           "target": "<= 2.0", "ok": False, "note": "(note)"}
    assert recorded[1]["target"] == ">= 50.0" and recorded[1]["ok"] is True
    assert run.parse_line(printed[0])["ratio"] == recorded[0]["ratio"]  # both ways agree


def test_table_and_readme_rendering():
    rows = [{"name": "x_vs_y", "measured": "3 ms", "native": "2 ms", "ratio": 1.5,
             "target": "<= 2", "ok": True, "note": "", "script": "bench_a", "date": "2026-12-02"},
            {"name": "bench_b (script)", "measured": "exit code 1", "native": "", "ratio": None,
             "target": "exit 0", "ok": False, "note": "", "script": "bench_b",
             "date": "2026-12-02"}]
    text = run.table(rows).splitlines()
    assert text[0].split() == ["benchmark", "measured", "native", "/", "limit", "ratio", "target"]
    assert text[2].split()[-1] == "ok" and text[3].split()[-1] == "MISSED"
    doc = {"machine": {"cores": 2, "python": "3.11", "numpy": "1.23.5", "mxnet": "1.9.1",
                       "load_average": [3.5, 2, 1]}, "rows": rows}
    md = readme_table.render(doc)
    assert "on 2 cores (2026-12-02; load average 3.50" in md
    assert "| `x_vs_y` | 3 ms | 2 ms | 1.5 | <= 2 | ok |" in md
    assert "| `bench_b (script)` | exit code 1 |  | - | exit 0 | MISSED |" in md
    page = f"intro\n{readme_table.BEGIN}\nold\n{readme_table.END}\nrest"
    assert readme_table.updated(page, doc) == (f"intro\n{readme_table.BEGIN}\n{md}\n"
                                               f"{readme_table.END}\nrest")
    with pytest.raises(SystemExit, match="markers"):
        readme_table.updated("no markers", doc)


def test_readme_table_is_generated_from_results_json():
    # make bench rewrites both; a hand edit of either one fails here
    assert readme_table.main(["--check"]) == 0, (
        "README.md's benchmark table differs from benchmarks/results.json: "
        "run python benchmarks/readme_table.py")
