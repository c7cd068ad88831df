"""The composition root: the ``aar`` command and the daemon that wire the layers together.

The kernel (``aar``) holds what every layer shares (config, store, events,
errors); ``agents``, ``sandbox``, ``evaluator`` and ``tui`` build on it; this
package is the one place that imports them all, so the layers above the kernel
never depend on each other through it.
"""
