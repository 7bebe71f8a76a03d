"""Wall-clock seconds in ``info`` that do not break determinism checks."""

from __future__ import annotations


class WallTime(float):
    """Seconds of wall-clock time, reported in ``info`` (``float(t)`` is the number).

    Equality says *what* the value is, not how long it took: every ``WallTime`` equals every other
    and nothing else (``WallTime(1.0) != 1.0``), and all hash alike, so sets and dict keys agree with
    ``==``. Two runs that made the same decisions then carry equal infos although their timings
    differ (Gymnasium's determinism check compares infos). Arithmetic and ``<`` act on the seconds
    and return plain floats / bools: ``t1 + t2`` is a float, ``t < budget`` compares times. It stays a
    ``float`` subclass so infos remain JSON-serialisable scalars; the one gap is a NumPy scalar on the
    left (``np.float64(1.0) == WallTime(1.0)``), which NumPy compares by value before asking us.
    """

    def __eq__(self, other: object) -> bool:
        return isinstance(other, WallTime)

    def __ne__(self, other: object) -> bool:
        return not isinstance(other, WallTime)

    def __hash__(self) -> int:
        return hash(WallTime)
