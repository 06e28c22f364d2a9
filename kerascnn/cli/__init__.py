"""The ``kerascnn`` command line: a thin layer over library functions (see ``main.py``)."""
