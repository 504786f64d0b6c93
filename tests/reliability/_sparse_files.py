"""Small sparse checkpoints and where their index data sits, for the corruption tests."""
import struct

import mxnet as mx
import numpy as onp

RSP_SHAPE, RSP_ROWS = (6, 3), [1, 4]
CSR_SHAPE, CSR_INDPTR, CSR_COLS = (4, 5), [0, 1, 1, 3, 3], [2, 0, 4]


def int64s(values):
    return struct.pack(f"<{len(values)}q", *values)


def write_sparse(path):
    """A dict file with a dense array, a row_sparse array and a csr array; returns its bytes."""
    with mx.util.np_array(False), mx.util.np_shape(False):  # MXNet saves sparse only so
        return _write_sparse(path)


def _write_sparse(path):
    rsp = mx.nd.sparse.row_sparse_array(
        (mx.nd.arange(6).reshape((2, 3)) + 1, mx.nd.array(RSP_ROWS, dtype="int64")),
        shape=RSP_SHAPE)
    csr = mx.nd.sparse.csr_matrix(
        (mx.nd.array([7, 8, 9]), mx.nd.array(CSR_COLS, dtype="int64"),
         mx.nd.array(CSR_INDPTR, dtype="int64")), shape=CSR_SHAPE)
    mx.nd.save(str(path), {"dense": mx.nd.ones((2, 2)), "rsp": rsp, "csr": csr})
    with open(path, "rb") as f:
        return f.read()


def index_regions(raw):
    """``name -> (start, count)`` of each int64 index array inside the file's bytes."""
    out = {}
    for name, values in (("rsp_rows", RSP_ROWS), ("csr_indptr", CSR_INDPTR),
                         ("csr_cols", CSR_COLS)):
        start = raw.find(int64s(values))
        assert start > 0 and raw.find(int64s(values), start + 1) == -1, name
        out[name] = (start, len(values))
    return out


def dense_expected():
    rsp = onp.zeros(RSP_SHAPE, dtype="float32")
    rsp[RSP_ROWS] = onp.arange(6).reshape(2, 3) + 1
    csr = onp.zeros(CSR_SHAPE, dtype="float32")
    csr[0, 2], csr[2, 0], csr[2, 4] = 7, 8, 9
    return {"dense": onp.ones((2, 2), dtype="float32"), "rsp": rsp, "csr": csr}


def patched(raw, start, values):
    data = bytearray(raw)
    data[start:start + 8 * len(values)] = int64s(values)
    return bytes(data)
