"""The real terminal for progress bars while pytest captures a test's output."""

from __future__ import annotations

import contextlib
import os
from typing import Any

import pytest

__all__ = ["TerminalStream", "terminal_stream"]


class TerminalStream:
    """A file-like object for a progress bar: each write suspends pytest's capture (as live
    logging does) and goes to the terminal, on a line of its own below pytest's progress line;
    :meth:`done` puts the cursor back at the end of that line."""

    def __init__(self, writer: Any, capture: Any) -> None:
        self._tw = writer
        self._capture = capture
        self._started = False

    def _suspended(self) -> Any:
        if self._capture is None:
            return contextlib.nullcontext()
        return self._capture.global_and_fixture_disabled()

    def write(self, text: str) -> int:
        with self._suspended():
            if not self._started:
                self._tw.write_raw("\n")
                self._started = True
            self._tw.write_raw(text, flush=True)
        return len(text)

    def flush(self) -> None:
        pass

    def done(self) -> None:
        if not self._started:
            return
        column = self._tw.width_of_current_line
        with self._suspended():  # clear the bar's line, up one line, right to where pytest was
            self._tw.write_raw("\r\x1b[K\x1b[F" + (f"\x1b[{column}C" if column else ""),
                               flush=True)
        self._started = False


def terminal_stream(config: pytest.Config) -> TerminalStream | None:
    """A stream to the terminal when a person watches it (a terminal with markup, not CI, not an
    xdist worker), else None."""
    writer = config.get_terminal_writer()
    if (not writer.hasmarkup or os.environ.get("CI") or hasattr(config, "workerinput")
            or os.environ.get("PYTEST_XDIST_WORKER")):
        return None
    return TerminalStream(writer, config.pluginmanager.get_plugin("capturemanager"))
