"""The evaluator's torch side: tasks, training, reference methods, the method runner and the
Hugging Face learner. It runs in the spawned worker, the bundle builder
(``python -m evaluator.compute.prepare``) and the method runner
(``python -m evaluator.compute.run_method``), never in the daemon.
"""
