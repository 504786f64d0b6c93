"""The optimizer the kit sends a dist store's servers while a load is pushed.

A server runs inside ``import mxnet`` (``DMLC_ROLE=server``) and unpickles what workers
send it there, while ``mxnet`` and the kit are still half imported: this module imports
nothing but ``mxnet.optimizer`` (complete by then), so a server can always load it.
"""
from mxnet.optimizer import Optimizer

__all__ = ["AssignOnce"]


class AssignOnce(Optimizer):
    """The next push of each key in ``keys`` becomes that key's value; every other update
    goes to ``inner``, with states it creates from the (new) weights, as a fresh
    Trainer's optimizer would."""

    def __init__(self, inner, keys):
        super().__init__(learning_rate=inner.lr)
        self.inner, self.pending, self.inner_states = inner, set(keys), {}
        self.aggregate_num = 0  # one key per call: a key may be assigned, not updated

    def _set_current_context(self, device_id):
        self.inner._set_current_context(device_id)

    def create_state_multi_precision(self, index, weight):
        return None  # the inner optimizer's states are made at its first update

    def update_multi_precision(self, index, weight, grad, state):
        if index in self.pending:
            self.pending.discard(index)
            grad.copyto(weight)
            return
        if index not in self.inner_states:
            self.inner_states[index] = self.inner.create_state_multi_precision(index, weight)
        self.inner.update_multi_precision(index, weight, grad, self.inner_states[index])

    def __getstate__(self):
        return dict(self.__dict__)  # param_dict is empty here; nothing to leave out

    def __setstate__(self, state):
        self.__dict__ = state
