"""Broadcast through an MXNet kvstore, writes that keep a Trainer's kvstore copy, checksums.

Keys. A ``gluon.Trainer`` uses the integer keys ``0 .. n-1`` of its kvstore, and one
kvstore cannot mix integer and string keys ("Mixed key types are not allowed"), so the
kit's keys are integers from a reserved range far above any Trainer's:
``KEY_BASE .. KEY_LIMIT-1``. Reusing a Trainer's key on a dist store crashes the server
and hangs the workers; a key is never reused here (the next free key of each kvstore is
kept per store, and every worker runs the same calls in the same order). The range stays
below 2**31 / 9973, because the dist store picks a server with ``key * 9973`` in C ``int``.
"""
from __future__ import annotations

import hashlib
import weakref
from collections import OrderedDict
from typing import Any, Dict, List, Mapping, Union

from ..errors import DeviceError, DeviceTypeError, listing
from .compat import gluon, mx
from .gluon import check_block, has_data, is_deferred, parameter_groups
from .report import Report
from .validate import check_number, shown

__all__ = ["Checksums", "KEY_BASE", "KEY_LIMIT", "broadcast", "checksum", "take_keys", "write_everywhere"]

#: First kvstore key the kit uses; a Trainer over fewer parameters never reaches it.
KEY_BASE = 100_000
#: One past the last key the kit uses (``KEY_LIMIT * 9973`` still fits a C int).
KEY_LIMIT = 215_000

_next_key: "weakref.WeakKeyDictionary[Any, int]" = weakref.WeakKeyDictionary()
_LOCAL_TYPES = ("local", "device")


def broadcast(block: gluon.Block, kvstore: Union[str, "mx.kv.KVStore"], *,
              root: int = 0) -> List[str]:
    """Give every replica on every worker the root worker's parameter values.

    Works through MXNet's kvstore: ``'local'`` or ``'device'`` (one process: every
    replica gets the first replica's values), or a ``dist_sync`` / ``dist_device_sync``
    store made with ``mx.kv.create`` (every worker must call ``broadcast`` on the same
    block structure; pass the same store to ``gluon.Trainer(..., kvstore=kv)`` next).
    Keys come from a reserved range that a Trainer's keys never reach.

    Deferred parameters cannot be broadcast (their shapes are unknown): run one forward
    pass (``net(x)``) on every worker first. This is checked on every worker before any
    kvstore traffic, so all of them fail the same way instead of waiting for each other.

    Args:
        block: the network, fully initialized.
        kvstore: a ``KVStore``, or the name ``'local'`` / ``'device'``.
        root: rank of the worker whose values win (``0 <= root < kvstore.num_workers``).
            A dist store sends root 0's values with ``init``; another root is summed in
            with zeros from the others by ``push``, so call it before the Trainer's first
            step (after it, the servers would apply the optimizer to the push).

    Returns:
        The structural paths broadcast, in walk order.

    Raises:
        DeviceError: a deferred, uninitialized or sparse parameter, a bad ``root``, a
            kvstore name that is not local, or the reserved key range exhausted
            (``DeviceTypeError`` when ``root`` is not an int or ``kvstore`` neither a
            KVStore nor a name).

    Examples:
        >>> from mxnet.gluon import nn
        >>> net = nn.Dense(2, in_units=3); net.initialize(ctx=[mx.cpu(0), mx.cpu(1)])
        >>> net.weight.data(mx.cpu(1))[:] = 7
        >>> broadcast(net, 'local')
        ['weight', 'bias']
        >>> (net.weight.data(mx.cpu(1)) == net.weight.data(mx.cpu(0))).min().asscalar()
        1.0
    """
    check_block(block)
    kv = _as_kvstore(kvstore)
    nworkers = kv.num_workers
    check_number(root, "root", DeviceError, integer=True, minimum=0, maximum=nworkers - 1,
                 unit=f"a worker rank: kvstore {kv.type!r} has {nworkers} worker(s)")
    params = OrderedDict((g.path, g.param) for g in parameter_groups(block))
    _check_broadcastable(params)
    keys = take_keys(kv, len(params))
    values = [p.list_data()[0].as_nd_ndarray() for p in params.values()]
    outs = [[d.as_nd_ndarray() for d in p.list_data()] for p in params.values()]
    if not keys:
        return []
    if root == 0:
        kv.broadcast(keys, values, out=outs)
    else:
        mine = kv.rank == root
        kv.init(keys, values)
        kv.push(keys, [v if mine else mx.nd.zeros_like(v) for v in values])
        kv.pull(keys, out=outs)
    for row in outs:
        for arr in row:
            arr.wait_to_read()
    return list(params)


def take_keys(kv: "mx.kv.KVStore", n: int) -> List[int]:
    """The next ``n`` keys of the kit's reserved range on ``kv``, never handed out twice
    (every worker makes the same calls in the same order, so all get the same keys)."""
    first = _next_key.get(kv, KEY_BASE)
    if first + n > KEY_LIMIT:
        raise DeviceError(f"the kit's reserved kvstore keys {KEY_BASE}..{KEY_LIMIT - 1} are used "
                          f"up on this kvstore ({first - KEY_BASE} taken, {n} more "
                          f"asked); create a new kvstore for further broadcasts")
    _next_key[kv] = first + n
    return list(range(first, first + n))


def _as_kvstore(kvstore):
    if isinstance(kvstore, mx.kv.KVStore):
        return kvstore
    if isinstance(kvstore, str):
        if kvstore in _LOCAL_TYPES:
            return mx.kv.create(kvstore)
        raise DeviceError(
            f"kvstore {kvstore!r}: pass 'local' or 'device', or for a cluster a store made once "
            f"with kv = mx.kv.create({kvstore!r}) and handed to both broadcast(net, kv) and "
            f"gluon.Trainer(..., kvstore=kv) (one process cannot start two dist stores)")
    raise DeviceTypeError(f"kvstore must be an mx.kv.KVStore or one of {listing(_LOCAL_TYPES)}, "
                          f"got {type(kvstore).__name__}: {kvstore!r}")


def _check_broadcastable(params) -> None:
    deferred = [path for path, p in params.items() if is_deferred(p)]
    missing = [path for path, p in params.items() if not has_data(p) and not is_deferred(p)]
    sparse = [path for path, p in params.items() if p._stype != "default"]
    problems = []
    if deferred:
        problems.append(f"deferred (shape unknown until the first forward): {listing(deferred)}. "
                        f"Run one forward pass, net(x), on every worker before broadcast, or "
                        f"give the layers in_units/in_channels")
    if missing:
        problems.append(f"not initialized: {listing(missing)}. Call net.initialize() first")
    if sparse:
        problems.append(f"sparse storage, which kvstore pulls skip: {listing(sparse)}")
    if problems:
        raise DeviceError("cannot broadcast: " + "; ".join(problems) + ". Nothing was sent.")


# --------------------------------------------------------------------------- Trainer copies

def write_everywhere(p: gluon.Parameter, value, *, from_replica: bool = False) -> None:
    """Write ``value`` into every replica, and into the Trainer's kvstore copy if it has one.

    Gluon's own ``set_data`` resets the Trainer's kvstore for that, which breaks a store
    the user passed in (the Trainer re-inits key 0: "duplicate init") and is refused by a
    dist store. Instead, a local store's copy is overwritten by one push under an
    assigning updater (the Trainer's updater, with its optimizer state, is put back).
    ``from_replica``: ``value`` is one of ``p``'s own replicas; the others get one copy of
    it each, and it is not copied (nor written) onto itself.
    """
    trainer = p._trainer
    kv = getattr(trainer, "_kvstore", None)
    if kv is not None and trainer._kv_initialized and trainer._update_on_kvstore \
            and p not in trainer._params_to_init and "dist" not in kv.type:
        if from_replica:
            value = value.copy()  # the pull below overwrites every replica, this one too
        idx = trainer._param2idx[p.name]
        old = kv._updater
        kv._set_updater(lambda key, new, stored: new.copyto(stored))
        try:
            kv.push(idx, value.as_nd_ndarray())
            kv.pull(idx, out=[d.as_nd_ndarray() for d in p.list_data()])
            mx.nd.waitall()
        finally:
            kv._set_updater(old)
        return
    # No kvstore copy of the weights (updates happen on the replicas), or a dist store,
    # whose servers keep their copy: the next step pulls it to all replicas.
    for arr in p.list_data():
        if not (from_replica and arr is value):
            value.copyto(arr)


# --------------------------------------------------------------------------- checksums

class Checksums(Report):
    """Path -> short hex digest of a parameter's value (shape, dtype and bytes).

    Equal digests mean bit-identical values. ``digest`` covers the whole block;
    ``differences(other)`` lists the paths whose digests differ (or that one side lacks).
    ``dict(checksums)`` is plain JSON, to send or log from every worker.
    """

    _what = "parameter"
    _kind = "checksums"

    def __init__(self, digests: "OrderedDict[str, str]"):
        super().__init__(digests)
        self._digests = self._entries
        self.title = f"Checksums of {len(self)} parameters, digest {self.digest}"

    def _record(self, key: str, digest: str) -> Dict[str, str]:
        return {"path": key, "digest": digest}

    def _table(self):
        return ("path", "digest"), list(self._digests.items()), (False, False)

    @property
    def digest(self) -> str:
        h = hashlib.blake2b(digest_size=8)
        for path, d in self._digests.items():
            h.update(f"{path}={d};".encode())
        return h.hexdigest()

    def differences(self, other: Mapping) -> List[str]:
        """The paths whose digests differ from ``other``'s (a :class:`Checksums` or its
        ``dict``, as another worker sent it), or that one side lacks."""
        if not (isinstance(other, Mapping) and all(isinstance(k, str) for k in other)):
            raise DeviceTypeError(f"Checksums.differences: other must be Checksums or a dict of "
                                  f"path -> digest, got {shown(other)}")
        paths = list(self._digests) + [p for p in other if p not in self._digests]
        return [p for p in paths if self._digests.get(p) != other.get(p)]

    def __eq__(self, other) -> bool:
        return isinstance(other, Mapping) and dict(self.items()) == dict(other.items())

    def __hash__(self):
        return hash(self.digest)


def checksum(block: gluon.Block) -> Checksums:
    """A digest per parameter (of its first replica), to compare workers cheaply.

    Args:
        block: the network, initialized (deferred parameters: run one forward first).

    Returns:
        :class:`Checksums`, path -> 16-hex-digit digest.

    Raises:
        DeviceError: a parameter is deferred or not initialized.

    Examples:
        >>> from mxnet.gluon import nn
        >>> a = nn.Dense(2, in_units=3); a.initialize(mx.init.One())
        >>> b = nn.Dense(2, in_units=3); b.initialize(mx.init.One())
        >>> checksum(a) == checksum(b), checksum(a).differences(checksum(b))
        (True, [])
    """
    check_block(block)
    params = OrderedDict((g.path, g.param) for g in parameter_groups(block))
    bad = [path for path, p in params.items() if not has_data(p)]
    if bad:
        raise DeviceError(f"no values to checksum for {listing(bad)} (deferred or not "
                          f"initialized): run net.initialize() and one forward pass first")
    out: "OrderedDict[str, str]" = OrderedDict()
    for path, p in params.items():
        host = p.list_data()[0].asnumpy()
        h = hashlib.blake2b(f"{host.dtype.str}{host.shape}".encode(), digest_size=8)
        h.update(memoryview(host.reshape(-1)).cast("B"))
        out[path] = h.hexdigest()
    return Checksums(out)
