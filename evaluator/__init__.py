"""The evaluator: weak-to-strong tasks, reference methods, PGR with confidence intervals,
the background worker process and the scoring service (see evaluator/README.md).

Two sides, split at torch:

- ``evaluator.daemon``: what the daemon and ``aar eval`` import (the service, submissions,
  scoring, the job queue, the worker's supervisor and its job loop). None of it imports torch;
  an import-linter contract and ``tests/evaluator/test_import_hygiene.py`` hold that.
- ``evaluator.compute``: what trains models, in the worker, the bundle builder and the method
  runner (tasks, training, methods, the Hugging Face learner). Only this side imports torch.
"""
