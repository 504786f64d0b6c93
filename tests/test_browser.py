"""The HTML summary and the notebooks' HTML in a real browser: headless Chromium.

Each page is loaded once with ``--dump-dom``; a script at the end of the page measures
the layout (horizontal overflow, which ``<details>`` are open, how many rows are visible,
that the header is sticky, then what "expand all" does) into a ``<pre id="gpk-metrics">``
that the test reads back. A second run takes a screenshot (PNG), kept in
``$GPK_SCREENSHOTS`` when that is set (``make screenshots``), else in pytest's tmp_path.
Without a Chromium (``apt-get install chromium``; ``make browser`` does it where it can),
the browser tests skip and say so.
"""
import html
import json
import os
import re
import shutil
import subprocess
import tempfile
import warnings
from pathlib import Path

import mxnet as mx
import pytest
from mxnet.gluon.model_zoo import vision

import gluon_params_kit as gpk

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--hide-scrollbars"]
WIDTH, HEIGHT = 1280, 900

MEASURE = """<script>
(function () {
  var de = document.documentElement, out = {scrollWidth: de.scrollWidth,
    clientWidth: de.clientWidth, summaries: []};
  document.querySelectorAll('.gpk-summary').forEach(function (s) { try {
    var scroller = s.querySelector('.gpk-scroll'), details = s.querySelectorAll('details');
    function depth(d) { var n = 0, p = d.parentElement;
      while (p && p !== s) { if (p.tagName === 'DETAILS') n++; p = p.parentElement; } return n; }
    function visible() { return Array.prototype.filter.call(s.querySelectorAll('.gpk-row'),
      function (r) { return r.checkVisibility ? r.checkVisibility()
        : r.getClientRects().length > 0; }).length; }
    var was = Array.prototype.map.call(details, function (d) { return d.open; });
    function container(d) { return d.querySelector(':scope > details, :scope > div > span.blk') !== null; }
    var box = s.getBoundingClientRect(), rec = {
      right: box.right, overflow: scroller.scrollWidth - scroller.clientWidth,
      open: Array.prototype.map.call(details, function (d) { return [depth(d), d.open, container(d)]; }),
      visible: visible(), rows: s.querySelectorAll('.gpk-row').length,
      sticky: getComputedStyle(s.querySelector('.gpk-th')).position,
      color: getComputedStyle(s).color,
      head: getComputedStyle(s.querySelector('.gpk-th')).backgroundColor};
    var view = scroller.getBoundingClientRect(), heads = s.querySelectorAll('.gpk-th > span');
    var mean = Array.prototype.find.call(heads, function (h) { return h.textContent === 'mean'; });
    rec.meanVisible = mean ? mean.getBoundingClientRect().right <= view.right : null;
    scroller.scrollLeft = scroller.scrollWidth;  // scrolled right: the path column stays at the left
    rec.scrolled = scroller.scrollLeft;
    rec.pathLeft = heads[0].getBoundingClientRect().left - view.left;
    var firstRow = s.querySelector('summary > span.p, div.gpk-row:not(.gpk-th) > span.p');
    rec.rowPathLeft = firstRow ? firstRow.getBoundingClientRect().left - view.left : null;
    scroller.scrollLeft = 0;
    s.querySelectorAll('button')[0].click();
    rec.expanded = Array.prototype.every.call(details, function (d) { return d.open; });
    rec.visibleExpanded = visible();
    s.querySelectorAll('button')[1].click();
    rec.collapsed = Array.prototype.every.call(details, function (d) { return !d.open; });
    s.querySelectorAll('button')[0].click(); s.querySelectorAll('button')[1].click();
    details.forEach(function (d, i) { d.open = was[i]; });  // as loaded, for the screenshot
    out.summaries.push(rec);
  } catch (e) { out.summaries.push({error: String(e)}); } });
  var pre = document.createElement('pre'); pre.id = 'gpk-metrics'; pre.hidden = true;
  pre.textContent = JSON.stringify(out); document.body.appendChild(pre);
})();
</script>"""

DARK = ("--jp-layout-color0:#111;--jp-layout-color1:#1e1e1e;background:#111;color:#ddd;"
        "color-scheme:dark;")


def chromium():
    for name in ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable"):
        path = shutil.which(name)
        if path:
            return path
    return None


BROWSER = chromium()
needs_browser = pytest.mark.skipif(
    BROWSER is None, reason="no Chromium here: `apt-get install -y chromium` (run `apt-get "
                            "update` first), or `make browser`, then run again")


def page(body: str, dark: bool = False) -> str:
    style = "margin:16px;font-family:sans-serif;" + (DARK if dark else "")
    return (f"<!doctype html><html><head><meta charset='utf-8'><title>gpk</title></head>"
            f"<body style='{style}'>{body}{MEASURE}</body></html>")


def run_browser(path: Path, *args: str, height: int = HEIGHT, width: int = WIDTH) -> str:
    with tempfile.TemporaryDirectory() as profile:
        proc = subprocess.run([BROWSER, *FLAGS, f"--user-data-dir={profile}",
                               f"--window-size={width},{height}", *args, path.as_uri()],
                              capture_output=True, text=True, timeout=120,
                              stdin=subprocess.DEVNULL)
    assert proc.returncode == 0, proc.stderr[-2000:]
    return proc.stdout


def measure(path: Path, shot: Path, height: int = HEIGHT, screenshot: bool = True, width: int = WIDTH) -> dict:
    dom = run_browser(path, "--dump-dom", height=height, width=width)
    found = re.search(r'<pre id="gpk-metrics"[^>]*>(.*?)</pre>', dom, re.S)
    assert found, dom[-2000:]
    if screenshot:
        run_browser(path, f"--screenshot={shot}", height=height, width=width)
        assert shot.exists() and shot.stat().st_size > 5000 and \
            shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    return json.loads(html.unescape(found.group(1)))


@pytest.fixture(scope="module")
def shots(tmp_path_factory):
    where = os.environ.get("GPK_SCREENSHOTS")
    folder = Path(where) if where else tmp_path_factory.mktemp("screenshots")
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def resnet():
    with gpk.fresh_names(), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        net = vision.resnet18_v1(pretrained=False)
    net.initialize(mx.init.Xavier())
    net.hybridize()
    x = mx.nd.ones((1, 3, 224, 224))
    net(x)
    return net, x


def check_summary(rec: dict, width: int = WIDTH) -> None:
    assert "error" not in rec, rec  # not the nested table (a stale notebook?)
    assert rec["right"] <= width, rec  # the summary itself stays inside the window
    assert rec["sticky"] == "sticky"
    # blocks whose children are shown start open; a layer's parameter rows wait for a click
    assert rec["open"] and all(is_open == container for _, is_open, container in rec["open"]), rec["open"]
    assert rec["expanded"] and rec["collapsed"] and rec["visibleExpanded"] == rec["rows"]
    assert abs(rec["pathLeft"]) <= 2 and (rec["rowPathLeft"] is None or abs(rec["rowPathLeft"]) <= 2), rec


@needs_browser
@pytest.mark.parametrize("dark", [False, True], ids=["light", "dark"])
def test_model_zoo_summary_in_chromium(dark, tmp_path, shots):
    net, x = resnet()
    html_page = tmp_path / "resnet18.html"
    traced = gpk.summary(net, x)
    plain = traced._repr_html_()
    with_stats = gpk.summary(net, x, stats=True, depth=2)._repr_html_()
    html_page.write_text(page(plain + "<hr>" + with_stats, dark), encoding="utf-8")
    name = "resnet18-dark.png" if dark else "resnet18-light.png"
    got = measure(html_page, shots / name)
    assert got["scrollWidth"] <= got["clientWidth"], got  # no horizontal overflow of the page
    first, second = got["summaries"]
    check_summary(first)
    check_summary(second)
    assert first["overflow"] <= 0, first  # without stats ResNet-18's table fits 1280 px
    # the header and every block row down to depth 3 (containers open, layers closed)
    assert first["visible"] == 1 + len(traced._shown_layers()[0]) < first["rows"]
    assert second["meanVisible"] is True
    if dark:
        assert first["color"] == "rgb(221, 221, 221)" and first["head"] == "rgb(30, 30, 30)"


NOTEBOOK_WIDTH = 900


@needs_browser
def test_statistics_stay_visible_at_notebook_width(tmp_path, shots):
    """At a notebook's width (~900 px) the statistics columns of a ResNet-50 summary are in
    view, and scrolling the table right keeps the path column at the left (sticky)."""
    with gpk.fresh_names(), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        net = vision.get_model("resnet50_v1")
    net.initialize(mx.init.Xavier())
    x = mx.nd.ones((1, 3, 224, 224))
    net(x)
    stats_html = gpk.summary(net, x, stats=True)._repr_html_()
    assert len(stats_html.encode()) < 100_000
    html_page = tmp_path / "resnet50-stats.html"
    html_page.write_text(page(stats_html), encoding="utf-8")
    got = measure(html_page, shots / "resnet50-stats-900px.png", height=1100, width=NOTEBOOK_WIDTH)
    assert got["scrollWidth"] <= got["clientWidth"], got
    (rec,) = got["summaries"]
    check_summary(rec, width=NOTEBOOK_WIDTH)
    assert rec["meanVisible"] is True, rec  # the statistics start inside the box
    assert rec["overflow"] > 0 and rec["scrolled"] > 0, rec  # the rest scrolls, the path column stays


def notebook_page(nb_path: Path) -> str:
    import nbformat
    nb = nbformat.read(str(nb_path), as_version=4)
    parts = [f"<h1>{html.escape(nb_path.name)}</h1>"]
    pre = "<pre style='overflow-x:auto;background:rgba(128,128,128,.08)'>"
    for cell in nb.cells:
        if cell.cell_type == "markdown":
            parts.append(f"<div style='white-space:pre-wrap'>{html.escape(cell.source)}</div>")
            continue
        parts.append(pre + html.escape(cell.source) + "</pre>")
        for out in cell.get("outputs", []):
            data = out.get("data", {})
            if "text/html" in data:
                parts.append(data["text/html"])
            elif "image/png" in data:
                src = "data:image/png;base64," + "".join(data["image/png"].split())
                parts.append(f"<img style='max-width:100%' src='{src}'>")
            elif "text/plain" in data or out.get("output_type") == "stream":
                parts.append(pre + html.escape(data.get("text/plain", out.get("text", "")))
                             + "</pre>")
    return "".join(parts)


@needs_browser
@pytest.mark.parametrize("nb_path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_html_in_chromium(nb_path, tmp_path, shots):
    html_page = tmp_path / f"{nb_path.stem}.html"
    body = notebook_page(nb_path)
    html_page.write_text(page(body), encoding="utf-8")
    # a screenshot of each notebook that shows a summary (of every one under make screenshots)
    shoot = "gpk-summary" in body or bool(os.environ.get("GPK_SCREENSHOTS"))
    got = measure(html_page, shots / f"{nb_path.stem}.png", height=8000, screenshot=shoot)
    assert got["scrollWidth"] <= got["clientWidth"], got
    for rec in got["summaries"]:
        check_summary(rec)


def test_stored_notebook_text_fits_120_columns():
    """Text summaries in the notebooks never wrap in a 120-character output area."""
    import nbformat
    for nb_path in NOTEBOOKS:
        nb = nbformat.read(str(nb_path), as_version=4)
        for cell in nb.cells:
            for out in cell.get("outputs", []):
                text = out.get("text", "") if out.get("output_type") == "stream" else ""
                if "parameter tensors" in text:  # a printed summary
                    assert max(map(len, text.splitlines())) <= 120, (nb_path.name, cell.source)

