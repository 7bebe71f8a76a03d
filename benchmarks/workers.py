"""Running the comparison's runs: in this process or in a pool of worker processes, the same way.

Either way a failing run is reported by name with its traceback and the other runs go on; at the end
the failures are listed and the command exits non-zero, the finished runs saved for a rerun to resume.

**Workers die with their parent.** Each spawned worker asks the kernel for SIGKILL when its parent
dies (Linux ``prctl(PR_SET_PDEATHSIG)``) and watches its parent's pid from a thread (everywhere), so a
``kill -9`` of ``python -m benchmarks.compare`` leaves no worker computing for nobody. Workers ignore
SIGINT: Ctrl-C (which the terminal sends to the whole process group) and SIGTERM reach the parent,
which cancels the queued runs, terminates the workers and says how to resume.
"""

from __future__ import annotations

import multiprocessing as mp
import os
import signal
import sys
import threading
import time
import traceback
from collections.abc import Callable, Iterable
from concurrent.futures import ProcessPoolExecutor, as_completed
from typing import Any

PARENT_POLL_S = 0.5


class Interrupted(Exception):
    """The comparison was stopped by SIGINT or SIGTERM; ``signum`` says which."""

    def __init__(self, signum: int):
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


def _die_with_parent(parent: int) -> None:
    """Pool initializer: end this worker when ``parent`` goes, whatever killed it."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent handles Ctrl-C and stops us
    if sys.platform.startswith("linux"):
        try:
            import ctypes

            ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG = 1
        except (OSError, AttributeError):
            pass  # the watchdog below still works

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(PARENT_POLL_S)
        os._exit(1)  # re-parented: our parent is gone

    if os.getppid() != parent:  # it died before we got here
        os._exit(1)
    threading.Thread(target=watch, name="parent-watchdog", daemon=True).start()


def failure_text(run_id: str, exc: BaseException) -> str:
    """``run <id> failed: <error>`` and the traceback (a worker's own traceback included)."""
    return f"run {run_id} failed: {type(exc).__name__}: {exc}\n" + "".join(traceback.format_exception(exc))


def run_all(todo: list, work: Callable[..., dict[str, Any]], args_of: Callable[[Any], tuple], workers: int,
            on_done: Callable[[dict[str, Any]], None], out_hint: str) -> None:
    """``work(*args_of(spec))`` for every spec of ``todo``: in this process with ``workers <= 1``, else in
    a pool of spawned processes; ``on_done(result)`` for each finished one, in the order they finish.

    A run that raises is reported on stderr (:func:`failure_text`) and the others go on; afterwards
    ``SystemExit`` lists the failed runs. SIGINT and SIGTERM stop everything and raise
    ``SystemExit(128 + signum)`` after saying what to rerun (``out_hint``: where finished runs are)."""
    failed: list[str] = []
    previous = signal.signal(signal.SIGTERM, _raise_interrupted)
    try:
        if workers <= 1:
            for spec in todo:
                try:
                    result = work(*args_of(spec))
                except Exception as exc:  # one failing run must not lose the others
                    failed.append(spec.run_id)
                    print(failure_text(spec.run_id, exc), file=sys.stderr, flush=True)
                    continue
                on_done(result)
        else:
            _pool(todo, work, args_of, workers, on_done, failed)
    except (KeyboardInterrupt, Interrupted) as exc:
        signum = exc.signum if isinstance(exc, Interrupted) else signal.SIGINT
        print(f"\ninterrupted ({signal.Signals(signum).name}): the runs finished so far are saved in {out_hint}; "
              "run the same command again to resume", file=sys.stderr, flush=True)
        raise SystemExit(128 + signum) from None
    finally:
        signal.signal(signal.SIGTERM, previous)
    if failed:
        raise SystemExit(f"{len(failed)} run(s) failed ({', '.join(failed)}); the finished runs are saved in "
                         f"{out_hint} and a rerun of the same command resumes")


def _raise_interrupted(signum, frame) -> None:
    raise Interrupted(signum)


def _pool(todo: Iterable, work, args_of, workers: int, on_done, failed: list[str]) -> None:
    context = mp.get_context("spawn")
    pool = ProcessPoolExecutor(max_workers=workers, mp_context=context, initializer=_die_with_parent,
                               initargs=(os.getpid(),))
    try:
        futures = {pool.submit(work, *args_of(spec)): spec for spec in todo}
        for fut in as_completed(futures):
            try:
                result = fut.result()
            except Exception as exc:  # one failing run must not lose the others
                failed.append(futures[fut].run_id)
                print(failure_text(futures[fut].run_id, exc), file=sys.stderr, flush=True)
                continue
            on_done(result)
    except BaseException:
        pool.shutdown(wait=False, cancel_futures=True)
        for child in mp.active_children():  # the pool's workers: stop what they are computing
            child.terminate()
        for child in mp.active_children():
            child.join(timeout=5)
        raise
    pool.shutdown(wait=True)
