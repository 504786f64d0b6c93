"""Multiply-adds of one call of a layer, where they are well defined (torchinfo's "Mult-Adds").

Private: the summary's trace asks :func:`mult_adds` after each call of each block. What is
counted (one multiply and one add of a weight with a value is one multiply-add; bias adds,
activations, normalisation and pooling are not counted):

- ``Dense``: every output value is a dot product of ``in_units`` terms:
  ``output size x in_units`` (``batch x units x in_units`` for a 2-D input).
- ``Conv1D/2D/3D``: ``output positions x out channels x kernel volume x in channels / groups``
  (``weight.size`` per output position).
- ``Conv1D/2D/3DTranspose``: each *input* position meets every weight once:
  ``input positions x in channels x kernel volume x out channels / groups`` (the same count as
  the convolution it transposes; a transposed convolution with stride s has fewer terms per
  output than ``weight.size``).
- ``RNN``/``LSTM``/``GRU`` layers: per time step and sequence, each layer and direction
  multiplies its input and its hidden state by its gate matrices:
  ``gates x (input size + hidden size) x hidden size`` (gates: RNN 1, LSTM 4, GRU 3; with a
  projection, ``+ hidden x projection``): the sum of the ``*_i2h_weight``, ``*_h2h_weight`` and
  ``*_h2r_weight`` sizes, times steps times batch. ``RNNCell``/``LSTMCell``/``GRUCell``: the same
  for one step per call.
- ``Embedding``: 0 (a lookup).
- Any other block: ``None`` (not defined; a container's count is the sum of its layers').
"""
from __future__ import annotations

from typing import Any, Optional, Sequence

from .._core.compat import gluon

__all__ = ["mult_adds"]


def _size(shape: Sequence[int]) -> int:
    n = 1
    for d in shape:
        n *= int(d)
    return n


def _first_array(value: Any) -> Any:
    while isinstance(value, (list, tuple)) and value:
        value = value[0]
    return value if hasattr(value, "shape") else None


def _weights_size(block: Any, names: Sequence[str]) -> int:
    return sum(_size(p.shape) for key, p in block._reg_params.items() if key.endswith(tuple(names)))


def mult_adds(block: Any, inputs: Sequence[Any], output: Any) -> Optional[int]:
    """Multiply-adds of this call of ``block`` (see the module docstring), or ``None``.

    >>> import mxnet as mx
    >>> from mxnet.gluon import nn
    >>> layer = nn.Dense(4, in_units=3); layer.initialize()
    >>> x = mx.nd.ones((2, 3)); mult_adds(layer, (x,), layer(x))  # 2 rows x 4 units x 3 inputs
    24
    """
    nn, rnn = gluon.nn, gluon.rnn
    x, out = _first_array(inputs), _first_array(output)
    if isinstance(block, nn.Embedding):
        return 0
    if x is None or out is None:
        return None
    if isinstance(block, nn.Dense):
        return _size(out.shape) * int(block.weight.shape[1])
    if isinstance(block, nn.conv_layers._Conv):
        c = str(block._kwargs.get("layout") or "NC").find("C")
        transposed = block._op_name == "Deconvolution"
        shape = x.shape if transposed else out.shape
        return _size(shape) // int(shape[c]) * _size(block.weight.shape)
    if isinstance(block, rnn.rnn_layer._RNNLayer):
        layout = block._layout
        steps, batch = int(x.shape[layout.find("T")]), int(x.shape[layout.find("N")])
        return steps * batch * _weights_size(block, ("i2h_weight", "h2h_weight", "h2r_weight"))
    if isinstance(block, (rnn.RNNCell, rnn.LSTMCell, rnn.GRUCell)):
        return int(x.shape[0]) * _weights_size(block, ("i2h_weight", "h2h_weight", "h2r_weight"))
    return None
