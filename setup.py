import sys

from setuptools import setup

if sys.version_info >= (3, 13):
    sys.exit("gluon_params_kit supports Python 3.8-3.12: MXNet 1.9.1 needs numpy<2, "
             "and numpy<2 has no wheels for Python %d.%d. Use python3.11." % sys.version_info[:2])

setup()
