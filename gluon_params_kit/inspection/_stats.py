"""What :func:`gluon_params_kit.inspection.stats` returns (the :class:`StatsReport`), and
:func:`params_stats`, which measures the selected Parameters for it and for ``summary``.

Re-exported by :mod:`gluon_params_kit.inspection`; import the names from there.
"""
from __future__ import annotations

import math
from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple

from .._core import display as D
from .._core.gluon import arrays, grad_arrays, init_state
from .._core.report import Report
from .._core.stats import ParamStats, array_stats, cpu_arrays_stats
from .._core.types import Parameter

__all__ = ["StatsReport", "params_stats"]

_CPU = 1  # MXNet's device type id of "cpu"


def params_stats(params: Sequence[Parameter], grads: bool, bins: int,
                 hist_sample: Optional[int]) -> List[ParamStats]:
    """The statistics of each Parameter's values (or gradients): its first device's copy.

    Dense CPU arrays are measured together (:func:`~gluon_params_kit._core.stats.cpu_arrays_stats`:
    small ones a batch at a time, so a net of 1,000 small Parameters costs about what its
    values cost); others one by one where they live. A Parameter without numbers gets its
    state (``'deferred'``, ``'uninitialized'``, ``'no grad'``).

    >>> import mxnet as mx
    >>> from mxnet.gluon import nn
    >>> net = nn.Dense(2, in_units=2); net.initialize(mx.init.One())
    >>> [(s.state, s.mean) for s in params_stats([net.weight, net.bias], False, 4, None)]
    [('ok', 1.0), ('ok', 0.0)]
    """
    out: List[Optional[ParamStats]] = [None] * len(params)
    batch: List[Tuple[Any, int]] = []
    where: List[int] = []
    for i, param in enumerate(params):  # a thousand Parameters: a few attribute reads each
        if arrays(param) is None:
            out[i] = ParamStats(state=init_state(param))
            continue
        # arrays(), not list_data(): list_data() refuses row_sparse Parameters
        held = grad_arrays(param) if grads else arrays(param)
        if held is None or (grads and param.grad_req == "null"):  # initialized: only a gradient can lack
            out[i] = ParamStats(state="no grad", size=D.known_size(param.shape))
            continue
        dense = (param._grad_stype if grads else param._stype) == "default"
        ctxs = param._ctx_list
        if dense and ctxs and ctxs[0].device_typeid == _CPU:
            # its known shape (the property rebuilds it in np mode); MXNet refuses a wrong size
            batch.append((held[0], math.prod(param._shape)))
            where.append(i)
        else:
            out[i] = array_stats(held[0], bins, hist_sample)
    for i, rec in zip(where, cpu_arrays_stats(batch, bins, hist_sample)):
        out[i] = rec
    return out  # type: ignore[return-value]  # every slot is filled above


class StatsReport(Report):
    """Path -> :class:`~gluon_params_kit.inspection.ParamStats` of every selected parameter.

    A Mapping like every report of the kit: iteration yields the canonical paths,
    ``report[path]`` (any path form, or a tied Parameter's other path) one parameter's
    statistics; ``to_records()`` gives one dict per parameter (``path`` and the
    :class:`ParamStats` fields); ``str()`` is a table with a sparkline histogram, and the
    lines under it count non-finite values and parameters without numbers. ``grads``
    says whether the numbers are of the gradients.

    >>> import mxnet as mx
    >>> from mxnet.gluon import nn
    >>> from gluon_params_kit import stats
    >>> net = nn.Sequential(); net.add(nn.Dense(2, in_units=3)); net.initialize(mx.init.One())
    >>> report = stats(net)
    >>> report['[0].weight'].mean, report.to_records()[1]['path']
    (1.0, '0.bias')
    >>> print(report)  # doctest: +NORMALIZE_WHITESPACE
    value statistics of Sequential '...': 2 parameters
    path      state  size  mean  std  min  max     l2  zeros  nan  inf  histogram
    ------------------------------------------------------------------------------------
    0.weight  ok        6     1    0    1    1  2.449      0    0    0          █
    0.bias    ok        2     0    0    0    0      0      1    0    0          █
    """

    _what = "parameter"
    _kind = "stats report"

    def __init__(self, stats: Mapping[str, ParamStats], aliases: Optional[Mapping[str, str]] = None,
                 *, title: str = "", grads: bool = False):
        super().__init__(stats, aliases, title=title)
        #: True when the numbers are of the gradients, not the values.
        self.grads = grads

    def _record(self, key: str, entry: ParamStats) -> Dict[str, Any]:
        return dict(path=key, **entry.as_dict())

    def _table(self):
        f = D.format_float
        head = ("path", "state", "size", "mean", "std", "min", "max", "l2", "zeros", "nan", "inf",
                "histogram")
        rows = [(path, s.state, D.format_count(s.size), f(s.mean), f(s.std), f(s.min), f(s.max),
                 f(s.l2), f(s.zero_fraction), str(s.nan), str(s.inf), s.sparkline)
                for path, s in self.items()]
        return head, rows, (False, False) + (True,) * 9 + (False,)

    def _footer(self) -> List[str]:
        lines = []
        nan, inf = sum(s.nan for s in self.values()), sum(s.inf for s in self.values())
        if nan or inf:
            where = [p for p, s in self.items() if s.nan or s.inf]
            lines.append(f"Non-finite values: {D.format_count(nan)} NaN, {D.format_count(inf)} Inf "
                         f"(in {', '.join(where[:4])}{', ...' if len(where) > 4 else ''})")
        states: Dict[str, int] = {}
        for s in self.values():
            if s.state != "ok":
                states[s.state] = states.get(s.state, 0) + 1
        if states:
            lines.append("No numbers: " + ", ".join(f"{D.plural(n, 'parameter')} {state}"
                                                    for state, n in states.items()))
        return lines
