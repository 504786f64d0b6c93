"""One ``.npz`` member's values read straight into a buffer the caller owns.

:func:`read_into` fills the memory of an array made for the member (an MXNet array's own
bytes, for :func:`~gluon_params_kit.checkpoint.load`) with the member's values in C order
and native byte order, so a load holds each value once: a stored member is read from the
open file into that memory (its CRC-32 over the same bytes, as ``numpy.load`` checks it
through ``zipfile``); a deflated one is inflated piece by piece into it (``zipfile`` checks
the CRC at the member's end). A big-endian member is byte-swapped where it lies; a
Fortran-order member is read whole, then written in C order (one array's copy, for that
array only). Nothing here imports mxnet.
"""
from __future__ import annotations

import zlib
from typing import Any

import numpy as onp

from ..errors import CheckpointError
from . import npz as _npz
from .header import BFLOAT16, DataFile, Header

__all__ = ["CHUNK_BYTES", "read_into"]

#: Bytes a member is read (stored: then CRC-checked while in cache) or inflated by at a time.
CHUNK_BYTES = 1 << 22


def read_into(src: DataFile, header: Header, name: str, out: Any) -> None:
    """Fill ``out`` (a writable buffer of exactly the member's data bytes) with member
    ``name``'s values, C order, native byte order, from the open file ``src``.

    >>> import os, tempfile, numpy as np
    >>> from gluon_params_kit._io.formats import open_checkpoint
    >>> f = os.path.join(tempfile.mkdtemp(), 'x.npz')
    >>> np.savez_compressed(f, w=np.asfortranarray(np.arange(6, dtype='>i4').reshape(2, 3)))
    >>> out = np.empty((2, 3), np.int32)
    >>> with open_checkpoint(f) as (h, src):
    ...     read_into(src, h, 'w', out.reshape(-1).view(np.uint8))
    >>> out.tolist()
    [[0, 1, 2], [3, 4, 5]]
    """
    info = header[name]
    assert info.shape is not None and info.dtype is not None  # every member has both
    view = memoryview(out).cast("B")
    if len(view) != info.nbytes:
        raise CheckpointError(f"cannot read member {info.member!r} of {header.path!r} into "
                              f"{len(view)} bytes: it holds {info.nbytes}")
    dt = BFLOAT16 if info.dtype == "bfloat16" else onp.dtype(info.dtype)
    stored = dt.newbyteorder(">") if info.big_endian else dt
    if info.fortran_order:  # C order needs the whole member first: one array's copy
        flat = onp.empty(info.size, stored)
        _fill(src, header, name, flat.view(onp.uint8).data)
        shape = tuple(info.shape)
        target = onp.frombuffer(view, dtype=dt).reshape(shape)
        target[...] = flat.reshape(shape[::-1]).T
        return
    _fill(src, header, name, view)
    if info.big_endian and dt.itemsize > 1:
        values = onp.frombuffer(view, dtype=stored)
        values.byteswap(inplace=True)  # the bytes now hold the native values


def _fill(src: DataFile, header: Header, name: str, view: memoryview) -> None:
    """The member's stored data bytes into ``view``, CRC-checked."""
    info = header[name]
    if info.offset >= 0:
        crc = info.crc[0] if info.crc is not None else 0
        for at in range(0, len(view), CHUNK_BYTES):  # each piece's CRC while it is in cache
            part = view[at:at + CHUNK_BYTES]
            src.readinto(info.offset + at, part, repr(name))
            if info.crc is not None:
                crc = zlib.crc32(part, crc)
        if info.crc is not None and crc != info.crc[1]:
            raise CheckpointError(
                f"cannot read {header.path!r} as .npz: member {info.member!r} is damaged "
                f"(CRC-32 0x{crc:08x}, the zip directory says 0x{info.crc[1]:08x}); its values "
                f"are not read")
        return
    done = 0
    for piece in _npz.iter_member(src, header, info, CHUNK_BYTES):
        view[done:done + len(piece)] = piece
        done += len(piece)
