"""Fuzz the sparse index data of a checkpoint; run as a script (a crash must not kill pytest).

Every int64 of the index arrays (row_sparse rows, csr indptr and column indices) is
overwritten at random, one to three at a time, and every reader is run on the result:
either the kit refuses the file as damaged (a CheckpointError) or the file is valid and
every reader (MXNet's own load included) gives the same dense values. Prints one JSON
line of counts. Usage: python _sparse_fuzz.py FOLDER ITERATIONS SEED
"""
import json
import os
import random
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import gluon_params_kit  # noqa: E402,F401  (numpy shim first)

# isort: split
import mxnet as mx  # noqa: E402
import numpy as onp  # noqa: E402
from _sparse_files import index_regions, patched, write_sparse  # noqa: E402

from gluon_params_kit import read_array  # noqa: E402
from gluon_params_kit.checkpoint import diff, export_npz, read_header  # noqa: E402
from gluon_params_kit.errors import CheckpointError  # noqa: E402


def main(folder, iterations, seed):
    rng = random.Random(seed)
    clean = write_sparse(os.path.join(folder, "clean.params"))
    regions = list(index_regions(clean).values())
    path, out = os.path.join(folder, "fuzzed.params"), os.path.join(folder, "fuzzed.npz")
    counts = dict(iterations=iterations, refused=0, accepted=0, changed_but_valid=0)
    for _ in range(iterations):
        raw = clean
        for _ in range(rng.randint(1, 3)):
            start, count = rng.choice(regions)
            slot = start + 8 * rng.randrange(count)
            value = rng.choice([rng.randint(-3, 8), rng.randint(-2**63, 2**63 - 1),
                                rng.choice([-1, 2**31, 2**32 + 1, 2**62, -2**63])])
            raw = patched(raw, slot, [value])
        with open(path, "wb") as f:
            f.write(raw)
        try:
            header = read_header(path)
        except CheckpointError as exc:
            assert "damaged" in str(exc) or "not a valid" in str(exc), exc
            for call in (lambda: diff(path, path), lambda: export_npz(path, out)):
                try:
                    call()
                except CheckpointError:
                    continue
                raise AssertionError("a reader accepted a file read_header refused")
            counts["refused"] += 1
            continue
        counts["accepted"] += 1
        counts["changed_but_valid"] += raw != clean
        ours = {n: read_array(path, n) for n in header}
        theirs = {k: v.tostype("default").asnumpy() for k, v in mx.nd.load(path).items()}
        assert set(ours) == set(theirs)
        for k in ours:
            onp.testing.assert_array_equal(ours[k], theirs[k])
        assert diff(path, path).same
        export_npz(path, out)
        with onp.load(out, allow_pickle=False) as z:
            for k in ours:
                onp.testing.assert_array_equal(z[k], ours[k])
    print(json.dumps(counts))


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]), int(sys.argv[3]))
