"""Collection settings for the whole suite (tests/, the package's doctests, README.md)."""
import importlib.util

# The compiled statistics loops need numba (the `fast` extra); without it their module is
# never imported by the kit, so its doctests are not collected either.
collect_ignore = [] if importlib.util.find_spec("numba") else ["gluon_params_kit/_core/stats_kernels.py"]
