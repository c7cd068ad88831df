"""Reference weak-to-strong methods, each a module with ``run(ctx, **params)``.

``vanilla`` (naive transfer), ``confidence`` (auxiliary confidence loss),
``filtering`` (confident-label filtering) and ``bootstrap`` (self-training).
Import one in your own method file and call it with your parameters.
"""

REFERENCE_METHODS = ("vanilla", "confidence", "filtering", "bootstrap")
