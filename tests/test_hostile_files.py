"""Hostile checkpoint files: no raw exception, no hang, from any reader (issue 32.9, file part).

Seed files of the three formats (dense, sparse, np-shape, list, bfloat16, metadata, stored,
deflated and Fortran-order members) are mutated: cut short at many points, bytes flipped,
and fields set to what a hostile writer would put there (oversized dimensions and counts,
unknown dtype codes and storage types, broken JSON, a dtype that is a list, broken zip and
``.npy`` headers). Each mutant goes through ``read_header``, ``read_host`` (the values),
``diff``, ``export_npz``, ``convert``, the statistics of ``inspect --stats`` and ``load``,
in a worker process with a per-call alarm and an address-space limit. Every call must
succeed or raise one of the kit's errors; the counts are printed.
"""
import gluon_params_kit  # noqa: F401  (numpy shim before mxnet)

# isort: split
import json
import os
import random
import struct
import subprocess
import sys
import zipfile

import mxnet as mx
import numpy as onp
from safetensors.numpy import save_file

import gluon_params_kit as gpk

WORKER = r'''
import gluon_params_kit
import json, os, resource, signal, sys, traceback
resource.setrlimit(resource.RLIMIT_AS, (3 << 30, 3 << 30))  # a MemoryError, never the OOM killer
import mxnet as mx
import numpy as onp
from mxnet.gluon import nn
import gluon_params_kit as gpk
from gluon_params_kit._core.file_stats import file_stats
from gluon_params_kit._io.formats import read_header, read_host
from gluon_params_kit.errors import ParamsKitError

class Hang(BaseException):
    pass

def alarm(*_):
    raise Hang()
signal.signal(signal.SIGALRM, alarm)
files, out_dir = json.load(open(sys.argv[1])), sys.argv[2]
counts = {"calls": 0, "ok": 0, "kit_error": 0, "raw": [], "hang": []}

def net_for(path):
    net = nn.Sequential()
    net.add(nn.Dense(3, in_units=2))
    net.initialize()
    return net

def calls(path):
    yield "read_header", lambda: read_header(path)
    yield "read_host", lambda: read_host(read_header(path))
    yield "diff", lambda: gpk.diff(path, path)
    yield "export_npz", lambda: gpk.export_npz(path, os.path.join(out_dir, "e.npz"), fsync=False)
    yield "convert", lambda: gpk.convert(path, os.path.join(out_dir, "c.safetensors"))
    yield "convert_params", lambda: gpk.convert(path, os.path.join(out_dir, "c.params"))
    def stats():
        h = read_header(path)
        for name in h.names:
            file_stats(h, h[name])
    yield "stats", stats
    yield "load", lambda: gpk.load(net_for(path), path, strict=False)

import warnings
warnings.simplefilter("ignore")
for path in files:
    for name, call in calls(path):
        counts["calls"] += 1
        signal.alarm(20)
        try:
            call()
            counts["ok"] += 1
        except ParamsKitError:
            counts["kit_error"] += 1
        except Hang:
            counts["hang"].append([os.path.basename(path), name])
        except BaseException as exc:
            counts["raw"].append([os.path.basename(path), name, type(exc).__name__, str(exc)[:200],
                                  traceback.format_exc().splitlines()[-3][:200]])
        finally:
            signal.alarm(0)
print(json.dumps(counts))
'''


def _seeds(d):
    """Seed files: name -> bytes."""
    seeds = {}
    p = os.path.join(d, "seed")
    os.makedirs(p, exist_ok=True)

    def take(name):
        with open(os.path.join(p, name), "rb") as f:
            seeds[name] = f.read()

    mx.nd.save(os.path.join(p, "dense.params"), {
        "0.weight": mx.nd.array(onp.arange(6.0).reshape(3, 2)), "0.bias": mx.nd.ones(3),
        "i": mx.nd.array([1, 2], dtype="int64"), "h": mx.nd.ones((2, 2), dtype="float16")})
    take("dense.params")
    mx.nd.save(os.path.join(p, "sparse.params"), {
        "rs": mx.nd.sparse.row_sparse_array((onp.ones((2, 3)), [1, 3]), shape=(5, 3)),
        "cs": mx.nd.sparse.csr_matrix((onp.array([1.0, 2]), onp.array([0, 2]), onp.array([0, 1, 2])),
                                      shape=(2, 3))})
    take("sparse.params")
    mx.nd.save(os.path.join(p, "list.params"), [mx.nd.ones(2), mx.nd.zeros((1, 2))])
    take("list.params")
    mx.npx.set_np()
    try:
        mx.npx.save(os.path.join(p, "np.params"), {"s": mx.np.array(2.0), "z": mx.np.zeros((0, 3)),
                                                    "w": mx.np.ones((2, 2))})
    finally:
        mx.npx.reset_np()
    take("np.params")
    save_file({"0.weight": onp.ones((3, 2), "float32"), "0.bias": onp.zeros(3, "float32"),
               "b": onp.arange(4, dtype="int64")}, os.path.join(p, "lib.safetensors"),
              metadata={"k": "v"})
    take("lib.safetensors")
    net = mx.gluon.nn.Dense(3, in_units=2)
    net.initialize()
    gpk.save(net, os.path.join(p, "kit.safetensors"))
    take("kit.safetensors")
    onp.savez(os.path.join(p, "stored.npz"), **{"0.weight": onp.ones((3, 2), "float32"),
                                               "f": onp.asfortranarray(onp.arange(12.0).reshape(3, 4))})
    take("stored.npz")
    onp.savez_compressed(os.path.join(p, "deflated.npz"), w=onp.arange(20, dtype="float32"),
                         b=onp.ones((2, 2), ">f8"))
    take("deflated.npz")
    return seeds


def _structured(name, data):
    """Hand-made hostile variants of one seed: (suffix, bytes)."""
    out = []
    if name.endswith(".params"):
        b = bytearray(data)
        for where, value in ((16, 2**62), (16, 2**31)):  # the array count
            c = bytearray(b)
            c[where:where + 8] = struct.pack("<Q", value)
            out.append((f"count{value}", bytes(c)))
        first = 24  # the first record: magic, stype, ndim, dims...
        for off, fmt, value, tag in ((4, "<i", 7, "stype"), (4, "<i", 1, "sparse"), (8, "<i", 40, "ndim"),
                                     (8, "<i", -5, "ndimneg"), (12, "<q", 2**62, "dim"),
                                     (12, "<q", -7, "dimneg"), (12, "<q", 2**40, "dimbig")):
            c = bytearray(b)
            struct.pack_into(fmt, c, first + off, value)
            out.append((tag, bytes(c)))
        if "np" not in name:
            ndim = struct.unpack_from("<i", b, first + 8)[0]
            flag = first + 12 + 8 * ndim + 8  # dev_type, dev_id, then the type flag
            for value in (99, -1, 12, 2**31 - 1):
                c = bytearray(b)
                struct.pack_into("<i", c, flag, value)
                out.append((f"dtype{value}", bytes(c)))
        c = bytearray(b)
        struct.pack_into("<I", c, first, 0xDEADBEEF)
        out.append(("magic", bytes(c)))
    elif name.endswith(".safetensors"):
        n = struct.unpack_from("<Q", data)[0]
        doc = json.loads(data[8:8 + n])
        body = data[8 + n:]
        key = next(k for k in doc if k != "__metadata__")

        def st(d, extra=b""):
            text = json.dumps(d).encode()
            return struct.pack("<Q", len(text)) + text + body + extra
        for field, value in (("dtype", "X9"), ("dtype", ["F32"]), ("dtype", {"a": 1}), ("dtype", None),
                             ("shape", [2**63]), ("shape", [2**40, 2**40]), ("shape", [-1]),
                             ("shape", "3"), ("shape", [1.5]), ("data_offsets", [0, 2**70]),
                             ("data_offsets", [5, 1]), ("data_offsets", "x"), ("dtype", "F8_E4M3"),
                             ("dtype", "BF16")):
            d = json.loads(json.dumps(doc))
            d[key][field] = value
            out.append((f"{field}-{str(value)[:12]}", st(d)))
        d = json.loads(json.dumps(doc))
        d["__metadata__"] = {"a": 1}
        out.append(("meta", st(d)))
        deep = "[" * 100000 + "]" * 100000
        text = ('{"x": ' + deep + "}").encode()
        out.append(("deep", struct.pack("<Q", len(text)) + text))
        text = data[8:8 + n].replace(b"{", b"[", 1)
        out.append(("notobj", struct.pack("<Q", len(text)) + text + body))
        text = data[8:8 + n][:-1] + b', "' + key.encode() + b'": ' + json.dumps(doc[key]).encode() + b"}"
        out.append(("repeat", struct.pack("<Q", len(text)) + text + body))
        out.append(("hugelen", struct.pack("<Q", 2**63) + data[8:]))
        out.append(("badutf8", struct.pack("<Q", n) + b"\xff" + data[9:]))
    else:
        with zipfile.ZipFile(__import__("io").BytesIO(data)) as z:
            infos = z.infolist()
        for info in infos[:1]:
            for old, new in ((b"'descr': '<f4'", b"'descr': '|O' "), (b"'descr': '<f4'", b"'descr': '<U1'"),
                             (b"'fortran_order': False", b"'fortran_order': 0    "),
                             (b"'shape': (3, 2)", b"'shape': (9**9,)"), (b"'shape': (3, 2)", b"'shape': (-3, 2)"),
                             (b"'descr': '<f8'", b"'descr': '<c16'"), (b"'descr': '<f4'", b"'descr': [('a', '<f4')]"),
                             (b"'descr': '<f4'", b"'descr': '|V4'"), (b"'descr': '<f8'", b"'descr': '<m8'"),
                             (b"'descr': '<f8'", b"'descr': '<M8[s]'"), (b"'descr': '<f4'", b"'descr': '<c8'"),
                             (b"'descr': '<f4'", b"'descr': '|b1'"), (b"'descr': '<f4'", b"'descr': '>u4'"),
                             (b"'descr': '<f4'", b"'descr': '<V2'"), (b"'descr': '<f4'", b"'descr': 'xyz'"),
                             (b"\x93NUMPY\x01", b"\x93NUMPY\x07")):
                if old in data:
                    out.append((f"npy-{new[:10]!r}", data.replace(old, new, 1)))
        cd = data.rfind(b"PK\x05\x06")
        if cd >= 0:
            for off, fmt, value in ((10, "<H", 60000), (12, "<I", 2**31), (16, "<I", 2**31)):
                c = bytearray(data)
                struct.pack_into(fmt, c, cd + off, value)
                out.append((f"eocd{off}", bytes(c)))
        c = bytearray(data)
        struct.pack_into("<I", c, 18, 2**32 - 1)  # the first member's compressed size
        out.append(("csize", bytes(c)))
    return out


def _mutants(seeds, rng):
    for name, data in seeds.items():
        stem, ext = os.path.splitext(name)
        yield f"{stem}-orig{ext}", data
        for k in range(14):  # cut short at spread points, and near the end
            cut = len(data) * k // 14 if k < 10 else len(data) - (k - 9)
            yield f"{stem}-cut{cut}{ext}", data[:cut]
        for k in range(22):
            b = bytearray(data)
            for _ in range(1 + k % 3):
                b[rng.randrange(len(b))] ^= 1 << rng.randrange(8)
            yield f"{stem}-flip{k}{ext}", bytes(b)
        for tag, blob in _structured(name, data):
            yield f"{stem}-{''.join(ch if ch.isalnum() else '_' for ch in tag)}{ext}", blob


def test_hostile_files_raise_only_kit_errors(tmp_path):
    seeds = _seeds(str(tmp_path))
    rng = random.Random(32)
    folder = tmp_path / "mutants"
    folder.mkdir()
    paths = []
    for name, blob in _mutants(seeds, rng):
        path = folder / name
        path.write_bytes(blob)
        paths.append(str(path))
    manifest = tmp_path / "files.json"
    manifest.write_text(json.dumps(paths))
    out = tmp_path / "out"
    out.mkdir()
    done = subprocess.run([sys.executable, "-c", WORKER, str(manifest), str(out)], capture_output=True,
                          text=True, timeout=900, env=dict(os.environ, MXNET_ENGINE_TYPE="NaiveEngine"))
    assert done.returncode == 0, done.stderr[-3000:]
    counts = json.loads(done.stdout.strip().splitlines()[-1])
    print(f"\n{len(paths)} files, {counts['calls']} calls: {counts['ok']} succeeded, "
          f"{counts['kit_error']} kit errors, {len(counts['raw'])} raw exceptions, "
          f"{len(counts['hang'])} hangs")
    assert counts["calls"] == 8 * len(paths)
    assert counts["raw"] == [], json.dumps(counts["raw"][:10], indent=1)
    assert counts["hang"] == []
    assert counts["ok"] > 50 and counts["kit_error"] > 500  # both kinds are really exercised
