"""A progress line with rate and ETA on a terminal; silence elsewhere (logs stay clean)."""

from __future__ import annotations

import sys
import time
from typing import TextIO


class Progress:
    def __init__(self, label: str, total: int, stream: TextIO | None = None, enabled: bool | None = None):
        self.label, self.total = label, max(0, total)
        self.stream = stream or sys.stderr
        self.enabled = self.stream.isatty() if enabled is None else enabled
        self.done = self.resumed = self.problems = 0
        self.start = time.perf_counter()
        self._last = 0.0

    def update(self, resumed: bool = False, problem: bool = False) -> None:
        self.done += 1
        self.resumed += resumed
        self.problems += problem
        now = time.perf_counter()
        if self.enabled and (now - self._last > 0.2 or self.done == self.total):
            self._last = now
            self.stream.write("\r" + self.line(now) + "\x1b[K")
            self.stream.flush()

    def line(self, now: float | None = None) -> str:
        elapsed = (now or time.perf_counter()) - self.start
        fresh = self.done - self.resumed
        rate = fresh / elapsed if elapsed > 0 else 0.0
        left = self.total - self.done
        eta = f"{int(left / rate // 60)}:{int(left / rate % 60):02d}" if rate > 0 and left > 0 else "-"
        width = 24
        filled = int(width * self.done / self.total) if self.total else width
        bar = "█" * filled + "·" * (width - filled)
        extra = f", {self.resumed} resumed" if self.resumed else ""
        extra += f", {self.problems} skipped" if self.problems else ""
        return f"{self.label} {bar} {self.done}/{self.total} items  {rate:.1f}/s  ETA {eta}{extra}"

    def close(self) -> float:
        if self.enabled:
            self.stream.write("\r" + self.line() + "\x1b[K\n")
            self.stream.flush()
        return time.perf_counter() - self.start
