"""Helpers shared by the reliability tests; they work in nd and np mode alike."""
import contextlib
import os
import signal
import socket

import mxnet as mx
from mxnet.gluon import nn
from mxnet.util import is_np_array

from gluon_params_kit import fresh_names


def ones(shape):
    """An input of ones in the array type of the current mode."""
    return mx.np.ones(shape) if is_np_array() else mx.nd.ones(shape)


def small_net(init=True):
    """Dense(3) -> Dense(2) on 4 inputs, initialized with one forward unless ``init`` is False."""
    with fresh_names():
        net = nn.Sequential()
        net.add(nn.Dense(3, in_units=4), nn.Dense(2, in_units=3))
    if init:
        net.initialize()
        net(ones((1, 4)))
    return net


@contextlib.contextmanager
def no_hang(seconds=5.0):
    """Raise TimeoutError if the body blocks longer than ``seconds`` (a read waiting on a FIFO)."""
    def alarm(signum, frame):
        raise TimeoutError(f"blocked for more than {seconds} s")

    old = signal.signal(signal.SIGALRM, alarm)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)


def fifo(folder, name="pipe.params"):
    path = os.path.join(str(folder), name)
    os.mkfifo(path)
    return path


@contextlib.contextmanager
def unix_socket(folder, name="sock.params"):
    path = os.path.join(str(folder), name)
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.bind(path)
    try:
        yield path
    finally:
        s.close()


def listing(folder):
    return sorted(os.listdir(str(folder)))
