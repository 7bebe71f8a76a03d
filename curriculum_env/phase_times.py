"""The wall seconds of the env's phases in the current step (``info["time/<phase>"]`` under ``timings=True``),
measured around the step's logic rather than inside it."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator


class PhaseTimes:
    """``time/forward``, ``time/update``, ``time/reward`` (and ``time/influence`` once a probe is due), in seconds:
    each phase's time in the last step that ran it, or (``add``) summed over the step, as the reward's two
    forwards are under ``paired_reward``."""

    def __init__(self) -> None:
        self.times: dict[str, float] = {f"time/{k}": 0.0 for k in ("forward", "update", "reward")}

    @contextlib.contextmanager
    def measure(self, phase: str, add: bool = False) -> Iterator[None]:
        """Time the block as ``phase``: replacing its last time, or added to it with ``add``."""
        t0 = time.perf_counter()
        try:
            yield
        finally:
            key, elapsed = f"time/{phase}", time.perf_counter() - t0
            self.times[key] = self.times.get(key, 0.0) + elapsed if add else elapsed

    def zero(self, phase: str) -> None:
        """``phase`` did not run this step."""
        self.times[f"time/{phase}"] = 0.0
