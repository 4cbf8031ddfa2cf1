"""bridge.cpus: the daemon keeps to that many cores, every thread of it, in a real process."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import pytest

CORES = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else 1

pytestmark = pytest.mark.skipif(CORES < 2, reason="needs at least two usable cores")

# A process with a thread started before the limit and one after: all must end on one core.
SCRIPT = textwrap.dedent("""
    import json, os, sys, threading
    from torrentino_bridge.ops.affinity import limit_cpus
    started, stop = threading.Event(), threading.Event()
    def idle():
        started.set()
        stop.wait()
    early = threading.Thread(target=idle)
    early.start()
    started.wait()
    kept = limit_cpus(int(sys.argv[1]))
    late = threading.Thread(target=stop.wait)
    late.start()
    cores = {t: sorted(os.sched_getaffinity(int(t))) for t in os.listdir("/proc/self/task")}
    stop.set()
    print(json.dumps({"kept": kept, "cores": cores}))
""")


def run(count: int) -> dict:
    out = subprocess.run([sys.executable, "-c", SCRIPT, str(count)], capture_output=True, text=True,
                         check=True, timeout=60)
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_every_thread_keeps_to_the_last_core() -> None:
    result = run(1)
    allowed = sorted(os.sched_getaffinity(0))
    assert result["kept"] == allowed[-1:]
    assert len(result["cores"]) == 3          # main, the thread started before, the one after
    assert all(cores == allowed[-1:] for cores in result["cores"].values()), result["cores"]


@pytest.mark.parametrize("count", [0, CORES, CORES + 4])
def test_no_limit_or_a_limit_above_the_cores_changes_nothing(count: int) -> None:
    result = run(count)
    allowed = sorted(os.sched_getaffinity(0))
    assert result["kept"] is None
    assert all(cores == allowed for cores in result["cores"].values())


REFUSED = textwrap.dedent("""
    import json, os
    from torrentino_bridge.ops.affinity import limit_cpus
    def refuse(*args):
        raise PermissionError(1, "Operation not permitted")
    os.sched_setaffinity = refuse      # what a seccomp filter with EPERM answers
    kept = limit_cpus(1)
    print(json.dumps({"kept": kept, "cores": sorted(os.sched_getaffinity(0))}))
""")


def test_a_refused_limit_is_reported_and_changes_nothing() -> None:
    out = subprocess.run([sys.executable, "-c", REFUSED], capture_output=True, text=True, check=True, timeout=60)
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert result == {"kept": None, "cores": sorted(os.sched_getaffinity(0))}
    assert "cpu.limit_failed" in out.stdout + out.stderr
    assert "cpu.limited" not in (out.stdout + out.stderr).replace("cpu.limit_failed", "")
