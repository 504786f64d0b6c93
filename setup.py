from setuptools import setup

# Everything is declared in setup.cfg. The kit itself installs on Python 3.8-3.13 with
# numpy 1.x or 2.x; its `cpu` extra (mxnet 1.9.1) refuses Python 3.13+ (see setup.cfg).
setup()
