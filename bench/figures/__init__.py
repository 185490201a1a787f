"""The figures of ``bench/run.py``, one module per concern: ``efficiency`` (training FLOP/s of
the classifier and the language model against the matmul roof), ``data`` (padding waste, the
data path), ``overhead`` (a sweep against a plain loop), ``search_efficiency`` (ASHA and SHA
against the grid), ``study`` (the full study's wall time), ``processes`` (running a command,
its process tree's memory). The searchers' figures are ``bench/search.py``'s.

Kept free of imports: ``python -m bench.figures.data_load`` times its own imports from its
first line, after this package's.
"""
