"""``sandbox.touched`` reads a trace the traced command can write to as well: a forged line is skipped."""

from __future__ import annotations

from sandbox.touched import touched


def test_forged_trace_lines_are_skipped_and_real_ones_still_read() -> None:
    trace = "\n".join(
        [
            '1 openat(3<x>, "")',  # a relative folder: normalises to "x", no leading slash
            '1 openat(3<>, "")',
            '1 openat(AT_FDCWD<relative>, "y")',
            '1 openat(AT_FDCWD, "\\x")',  # an escape that does not decode
            "not a trace line at all",
            '2 openat(AT_FDCWD</workspace>, "../run.db")',
        ]
    )
    assert touched(trace, "/workspace") == ["/run.db"]
