"""What :func:`gluon_params_kit.inspection.stats` returns: the :class:`StatsReport`.

Re-exported by :mod:`gluon_params_kit.inspection`; import the name from there.
"""
from __future__ import annotations

from typing import Any, Dict, List, Mapping, Optional

from .._core import display as D
from .._core.report import Report
from .._core.stats import ParamStats

__all__ = ["StatsReport"]


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
