"""The site's pictures, made from the kit's own output: ``python docs/make_images.py``.

- ``images/summary.png``: the HTML summary of ResNet-18 with an example input, as a notebook
  shows it by default (rows down to depth 3, containers open, layers closed), screenshotted in headless Chromium (as ``tests/test_browser.py`` drives it);
- ``images/load-report.png``: the HTML ``LoadReport`` of a load that cannot be done (the
  wrapped-net case of the troubleshooting page);
- ``images/histograms.png``: ``gpk.plot_histograms`` of ResNet-18's first convolution weights
  after Xavier initialization (matplotlib).

Screenshots are cropped to what the page drew. Run it again when the summary's or the
report's HTML changes; the PNGs are committed.
"""
import gluon_params_kit as gpk  # numpy shim before mxnet

# isort: split
import shutil
import subprocess
import sys
import tempfile
import warnings
from pathlib import Path

import mxnet as mx
from mxnet.gluon import nn
from mxnet.gluon.model_zoo import vision

from gluon_params_kit.chapter import rgnet

HERE = Path(__file__).resolve().parent
IMAGES = HERE / "images"
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--hide-scrollbars",
         "--disable-background-networking", "--disable-component-update", "--disable-sync"]
PAGE = ("<!doctype html><html><head><meta charset='utf-8'></head>"
        "<body style='margin:12px;font-family:sans-serif;background:#fff'>{}</body></html>")


def chromium() -> str:
    for name in ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable"):
        if shutil.which(name):
            return shutil.which(name)
    sys.exit("no Chromium here: apt-get install -y chromium")


def screenshot(html: str, out: Path, width: int, height: int) -> None:
    """``html`` rendered at ``width`` x ``height`` CSS pixels, cropped to the drawn part."""
    from PIL import Image, ImageChops
    with tempfile.TemporaryDirectory() as folder:
        page = Path(folder) / "page.html"
        page.write_text(PAGE.format(html), encoding="utf-8")
        shot = Path(folder) / "shot.png"
        subprocess.run([chromium(), *FLAGS, f"--user-data-dir={folder}/profile",
                        f"--window-size={width},{height}", f"--screenshot={shot}", page.as_uri()],
                       check=True, capture_output=True, timeout=120, stdin=subprocess.DEVNULL)
        img = Image.open(shot).convert("RGB")
    box = ImageChops.difference(img, Image.new("RGB", img.size, (255, 255, 255))).getbbox()
    if box:
        left, top, right, bottom = box
        img = img.crop((max(left - 8, 0), max(top - 8, 0), min(right + 8, img.width),
                        min(bottom + 8, img.height)))
    img.save(out, optimize=True)


def resnet():
    with gpk.fresh_names(), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        net = vision.resnet18_v1(pretrained=False)
    mx.random.seed(0)
    net.initialize(mx.init.Xavier())
    x = mx.nd.ones((1, 3, 224, 224))
    net(x)
    return net, x


def main() -> None:
    IMAGES.mkdir(exist_ok=True)
    net, x = resnet()
    screenshot(gpk.summary(net, x)._repr_html_(), IMAGES / "summary.png", 1280, 900)

    wrapped = nn.Sequential()
    wrapped.add(rgnet())
    wrapped.initialize()
    source = rgnet()
    source.initialize()
    source(mx.nd.ones((2, 20)))
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "rgnet.params"
        source.save_parameters(str(path))
        try:
            gpk.load(wrapped, str(path))
        except gpk.CheckpointError as e:
            report = e.report
    screenshot(report._repr_html_().replace(folder + "/", ""), IMAGES / "load-report.png", 1000, 700)

    fig = gpk.plot_histograms(net, r"^features\.(0|4\.0\.body\.[03]|5\.0\.(body\.[03]|downsample\.0))\.weight$",
                              bins=60, cols=3, figsize=(12, 5))
    fig.savefig(IMAGES / "histograms.png", dpi=80, bbox_inches="tight")
    for name in ("summary.png", "load-report.png", "histograms.png"):
        print(IMAGES / name, (IMAGES / name).stat().st_size, "bytes")


if __name__ == "__main__":
    main()
