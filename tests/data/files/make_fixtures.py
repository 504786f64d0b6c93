"""Write the file layer's fixtures with real MXNet 1.9.1, and what ``mx.nd.load`` reads back.

Run it from the repository root with the project's venv (mxnet 1.9.1, numpy < 2)::

    .venv/bin/python tests/data/files/make_fixtures.py

It rewrites, beside itself: ``dense.params`` (float16/32/64 and integer arrays, dict form),
``list.params`` (list form), ``sparse.params`` (a ``row_sparse``, a ``csr`` and a dense
array), ``ckpt-symbol.json`` + ``ckpt-0000.params`` (``mx.model.save_checkpoint``: ``arg:``
and ``aux:`` keys), ``export-symbol.json`` + ``export-0000.params`` (``HybridBlock.export``),
``npmode.params`` (``npx.save`` under ``npx.set_np()``: a 0-d and a zero-size array), and
``expected.npz``, written by numpy: key ``'<file>/<name>'`` -> ``mx.nd.load(file)[name]
.asnumpy()`` (a list file's names are its positions), in the file's order. The values come
from a fixed seed, so a rerun writes the same values; the bytes too, except that MXNet now
and then writes the ``csr`` array's storage shape as ``(4,)`` instead of ``(0,)`` (it reads
both the same, from the index arrays, and so does the kit). ``tests/test_files_numpy2.py`` reads
every file without mxnet, on numpy 1.x and 2.x, and compares bit for bit.
"""
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.dirname(HERE))))

import gluon_params_kit  # noqa: E402,F401  (numpy shim before mxnet)

# isort: split
import mxnet as mx  # noqa: E402
import numpy as np  # noqa: E402

FILES = ["dense.params", "list.params", "sparse.params", "ckpt-0000.params", "export-0000.params",
         "npmode.params"]


def main() -> None:
    rng = np.random.RandomState(0)
    os.chdir(HERE)
    mx.nd.save("dense.params", {
        "w16": mx.nd.array(rng.randn(3, 4), dtype="float16"),
        "w32": mx.nd.array(rng.randn(2, 3, 2), dtype="float32"),
        "w64": mx.nd.array(rng.randn(5), dtype="float64"),
        "i8": mx.nd.array([-128, -1, 0, 127], dtype="int8"),
        "u8": mx.nd.array([[0, 1], [254, 255], [7, 8]], dtype="uint8"),
        "i32": mx.nd.array([[-(2 ** 31), 2 ** 31 - 1], [3, -4]], dtype="int32"),
        "i64": mx.nd.array(np.array([-(2 ** 40), 0, 2 ** 40 + 3], dtype=np.int64), dtype="int64"),
    })
    mx.nd.save("list.params", [mx.nd.array(rng.randn(2), dtype="float32"),
                               mx.nd.array([1, 2, 3], dtype="int32")])
    rsp = mx.nd.sparse.row_sparse_array(
        (rng.randn(2, 3).astype("float32"), np.array([1, 4], dtype=np.int64)), shape=(6, 3))
    csr = mx.nd.array(np.array([[0, 1.5, 0, 0, 0], [0, 0, 0, 0, 0], [2, 0, 0, -3, 0], [0, 0, 0, 0, 4]],
                               dtype="float32")).tostype("csr")
    mx.nd.save("sparse.params", {"rsp": rsp, "csr": csr, "dense": mx.nd.arange(4)})

    data = mx.sym.var("data")
    net = mx.sym.Convolution(data, num_filter=2, kernel=(3, 3), name="conv0")
    net = mx.sym.BatchNorm(net, fix_gamma=True, eps=2e-5, name="bn0")
    net = mx.sym.FullyConnected(net, num_hidden=3, name="fc1")
    net = mx.sym.SoftmaxOutput(net, name="softmax")
    arg_shapes, _, aux_shapes = net.infer_shape(data=(1, 1, 5, 5))
    args = {n: mx.nd.array(rng.randn(*s)) for n, s in zip(net.list_arguments(), arg_shapes)
            if n not in ("data", "softmax_label")}
    aux = {n: mx.nd.array(rng.rand(*s) + 0.5) for n, s in zip(net.list_auxiliary_states(), aux_shapes)}
    mx.model.save_checkpoint("ckpt", 0, net, args, aux)

    with mx.name.NameManager():
        block = mx.gluon.nn.HybridSequential()
        block.add(mx.gluon.nn.Dense(3, in_units=4), mx.gluon.nn.BatchNorm(in_channels=3))
    block.initialize(mx.init.Normal(1.0))
    block.hybridize()
    block(mx.nd.array(rng.randn(2, 4)))
    block.export("export", epoch=0)

    mx.npx.set_np()
    try:
        mx.npx.save("npmode.params", {"w": mx.np.array(rng.randn(2, 2), dtype="float32"),
                                      "scalar": mx.np.array(2.5, dtype="float64"),
                                      "empty": mx.np.zeros((0, 3), dtype="float32")})
    finally:
        mx.npx.reset_np()

    expected = {}
    for name in FILES:
        with mx.util.np_shape(name == "npmode.params"):
            loaded = mx.nd.load(name)
        items = loaded.items() if isinstance(loaded, dict) else enumerate(loaded)
        for key, value in items:
            expected[f"{name}/{key}"] = value.asnumpy()
    np.savez("expected.npz", **expected)
    total = sum(os.path.getsize(f) for f in os.listdir(".") if not f.endswith(".py"))
    print(f"wrote {len(FILES)} files and expected.npz ({len(expected)} arrays), {total} bytes in all")


if __name__ == "__main__":
    main()
