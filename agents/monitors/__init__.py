"""Monitors: rules that read the run's event stream (and submitted sources) and act like a supervisor.

Each ``[[monitors]]`` entry names a rule (one module per family: ``shell``,
``source``, ``flags``, ``claims``, ``stuck``, ``llm``) and an action; the
``runner`` hears the events, runs the rules and turns findings into
``monitor.decision`` events and commands.
"""

from agents.monitors.runner import MonitorRunner, run_monitors

__all__ = ["MonitorRunner", "run_monitors"]
