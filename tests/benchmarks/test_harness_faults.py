"""The harness under a hostile user: killed parents, interrupts, two invocations into one folder, damaged
run files, failing agents. Each runs ``python -m benchmarks.compare`` as a subprocess."""

import json
import os
import pathlib
import signal
import subprocess
import sys
import time

import pytest

TINY = ["--tasks", "noisy", "--env", "n_layer=1", "--env", "n_embd=32", "--env", "num_candidates=8", "--no-plots"]
LONG = [*TINY, "--agents", "random", "--seeds", "6", "--steps", "400", "--eval-every", "200"]  # runs in flight
BOOM = '''
class Boom:
    action_mode = "mixture"

    def setup(self, env, seed):
        pass

    def act(self, obs, info):
        raise RuntimeError("boom in act")

    def observe(self, *args):
        pass
'''


def start(cwd, *args):
    return subprocess.Popen([sys.executable, "-m", "benchmarks.compare", *args], cwd=cwd, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


def children(pid: int) -> list[int]:
    """Live processes whose parent is ``pid``."""
    kids = []
    for entry in pathlib.Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            fields = stat[stat.rindex(")") + 2:].split()
            if int(fields[1]) == pid and fields[0] != "Z":
                kids.append(int(entry.name))
    return kids


def alive(pid: int) -> bool:
    try:
        stat = pathlib.Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat[stat.rindex(")") + 2] != "Z"  # a zombie has stopped computing


def wait_for_workers(proc, count: int, timeout: float = 120.0) -> list[int]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        kids = children(proc.pid)
        if len(kids) >= count:
            return kids
        if proc.poll() is not None:
            pytest.fail(f"compare ended before its workers started: {proc.stderr.read()[-2000:]}")
        time.sleep(0.2)
    pytest.fail("the pool's workers did not start")


pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")


def test_workers_die_with_a_killed_parent(tmp_path):
    proc = start(tmp_path, *LONG, "--workers", "2", "--out", "out")
    kids = wait_for_workers(proc, 3)  # two workers and the resource tracker
    time.sleep(1.0)  # let them start computing
    proc.kill()
    proc.wait()
    deadline = time.monotonic() + 10
    while any(alive(k) for k in kids) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not [k for k in kids if alive(k)], "workers outlived the killed comparison"


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_an_interrupt_stops_the_pool_and_says_how_to_resume(tmp_path, sig):
    proc = start(tmp_path, *LONG, "--workers", "2", "--out", "out")
    kids = wait_for_workers(proc, 3)
    time.sleep(1.0)
    proc.send_signal(sig)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 128 + sig, err[-2000:]
    assert "run the same command again to resume" in err and "Traceback" not in err
    time.sleep(1.0)
    assert not [k for k in kids if alive(k)]


def test_a_second_invocation_into_the_same_folder_is_refused(tmp_path):
    first = start(tmp_path, *LONG, "--workers", "1", "--out", "out")
    deadline = time.monotonic() + 60
    while not (tmp_path / "out" / ".compare.lock").exists() and time.monotonic() < deadline:
        time.sleep(0.1)
    time.sleep(0.5)
    second = subprocess.run([sys.executable, "-m", "benchmarks.compare", *LONG, "--out", "out"], cwd=tmp_path,
                            capture_output=True, text=True, timeout=120)
    first.kill()
    first.wait()
    assert second.returncode == 2
    assert "is in use by another" in second.stderr and f"pid {first.pid}" in second.stderr
    # the owner is dead now: its lock went with it, and the folder is free again
    third = subprocess.run([sys.executable, "-m", "benchmarks.compare", *TINY, "--agents", "random", "--seeds", "1",
                            "--steps", "2", "--eval-every", "1", "--out", "out"], cwd=tmp_path, capture_output=True,
                           text=True, timeout=300)
    assert third.returncode == 0, third.stderr[-2000:]


def test_runs_of_another_command_are_never_summarised_for_this_one(tmp_path):
    args = [*TINY, "--agents", "random", "--seeds", "1", "--steps", "6", "--workers", "1", "--out", "out"]
    run = lambda every: subprocess.run([sys.executable, "-m", "benchmarks.compare", *args, "--eval-every", every],  # noqa: E731
                                       cwd=tmp_path, capture_output=True, text=True, timeout=300, check=True)
    steps = lambda: [c["step"] for c in json.loads((tmp_path / "out" / "summary.json").read_text())["rows"][0]  # noqa: E731
                     and json.loads((tmp_path / "out" / "runs" / "noisy__random__0.json").read_text())["curve"]]
    run("3")
    assert steps() == [0, 3, 6]
    second = run("2")  # same (task, agent, seed), other settings: its own run, not the first one's
    assert "0 already finished" in second.stdout and steps() == [0, 2, 4, 6]
    third = run("3")
    assert "0 already finished" in third.stdout and steps() == [0, 3, 6]


def test_damaged_and_foreign_run_files_are_named_and_rerun_or_skipped(tmp_path):
    args = [*TINY, "--agents", "random", "--seeds", "2", "--steps", "3", "--eval-every", "3", "--workers", "1",
            "--out", "out"]
    compare = lambda: subprocess.run([sys.executable, "-m", "benchmarks.compare", *args], cwd=tmp_path,  # noqa: E731
                                     capture_output=True, text=True, timeout=300)
    assert compare().returncode == 0
    runs = tmp_path / "out" / "runs"
    (runs / "noisy__random__0.json").write_text("[]")  # ours, damaged
    (runs / "notes.json").write_text("{not json")  # a stray file of the user's
    proc = compare()
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "noisy__random__0.json is not a run result" in proc.stderr and "running it again" in proc.stderr
    assert "skipping" in proc.stderr and "notes.json cannot be read as JSON" in proc.stderr
    assert "2 runs (1 already finished" in proc.stdout
    assert json.loads((runs / "noisy__random__0.json").read_text())["spec"]["seed"] == 0  # rerun and rewritten
    summary = (tmp_path / "out" / "summary.json").read_text()
    assert "NaN" not in summary and json.loads(summary)["rows"][0]["seeds"] == 2


@pytest.mark.parametrize("workers", ["1", "2"])
def test_a_failing_agent_is_named_with_its_traceback_and_the_others_finish(tmp_path, workers):
    (tmp_path / "my_agents.py").write_text(BOOM)
    proc = subprocess.run([sys.executable, "-m", "benchmarks.compare", *TINY, "--agents", "random,my_agents:Boom",
                           "--seeds", "1", "--steps", "3", "--eval-every", "3", "--workers", workers, "--out", "out"],
                          cwd=tmp_path, capture_output=True, text=True, timeout=300,
                          env={**os.environ, "PYTHONPATH": str(tmp_path)})
    assert proc.returncode != 0
    assert "run noisy__my_agents-Boom__0 failed: RuntimeError: boom in act" in proc.stderr
    assert "my_agents.py" in proc.stderr and 'raise RuntimeError("boom in act")' in proc.stderr  # its traceback
    assert "1 run(s) failed (noisy__my_agents-Boom__0)" in proc.stderr
    assert (tmp_path / "out" / "runs" / "noisy__random__0.json").exists()
