"""The supervisor's control room, in Textual.

Textual draws a frame at most every 1 / ``TEXTUAL_FPS`` seconds (60 by
default), and after a frame that follows an idle gap its frame timer sleeps one
to two periods before it looks for work again. Under a flood of agent output the
main screen's own redraws (a pane every 1/30 s, the lists after each poll) keep
that timer asleep most of the time, so a key pressed just after one waited up to
33 ms for its frame: ``bench/tui.py`` measured a loaded p99 of 30 ms at 60 fps
and 10 ms with the cap lifted, at the same CPU (40% of a core following 5,000
lines/s). The TUI paces its background redraws itself, and Textual's animations
keep their own 60 fps timer, so lifting the cap adds no frames: it only stops a
key from waiting for a frame slot. ``TEXTUAL_FPS`` set in the environment wins.
It must be set before Textual is first imported, hence here.
"""

import os

FRAME_CAP = "1000"
"""Frames per second Textual may draw; see the module docstring."""

os.environ.setdefault("TEXTUAL_FPS", FRAME_CAP)
