"""The evaluator's torch-free side: everything the daemon (and ``aar eval``'s setup) imports.

Training is reached only through in-function imports of ``evaluator.compute`` that run in the
spawned worker (or in ``aar eval``'s own process), never at import time here.
"""
