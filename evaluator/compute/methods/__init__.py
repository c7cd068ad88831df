"""Reference weak-to-strong methods, each a module with ``run(ctx, **params)``.

``vanilla`` (naive transfer), ``confidence`` (auxiliary confidence loss),
``filtering`` (training only on confident labels), ``bootstrap`` (self-training),
``product`` (product loss), ``entropy`` (entropy loss), ``window``
(confidence-window loss), ``knn`` (weak labels corrected, or filtered, by their
nearest neighbours in the strong view), ``s2s`` (strong-to-strong iterations),
``early_stop`` (early stopping by weak-label validation) and ``cluster`` (the
unsupervised baseline: k-means clusters named by weak labels).
Import one in your own method file and call it with your parameters.
"""

REFERENCE_METHODS = (
    "vanilla",
    "confidence",
    "filtering",
    "bootstrap",
    "product",
    "entropy",
    "window",
    "knn",
    "s2s",
    "early_stop",
    "cluster",
)
