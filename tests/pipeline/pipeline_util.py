# SPDX-License-Identifier: GPL-2.0-only
"""Helpers of the pipeline tests: the real `scripts/dmabuf-bench` (run,
report, compare, plot) on real fio runs, on this host and in the VM rig.

Everything needed is checked up front; what is missing skips with its name.
"""
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
BENCH = [str(Path("/usr/bin/python3")), str(REPO / "scripts" / "dmabuf-bench")]
BUILD = Path(os.environ.get("DBU_BUILD_DIR", REPO / "build")).resolve()


def bench(*args, timeout=600, cwd=None, env=None):
    """Run dmabuf-bench; CompletedProcess with text stdout/stderr."""
    e = dict(os.environ)
    e.update(env or {})
    args = [str(a) for a in args]
    # Another build under test (DBU_BUILD_DIR, e.g. one for a second fio) than
    # dmabuf-bench's default build/: name it (an --engine-dir later in args
    # still wins).  Not the ASan build: fio would need the ASan runtime
    # preloaded, which dmabuf-bench does not do.
    if args[:1] in (["run"], ["overhead"]) and BUILD != (REPO / "build").resolve() \
            and not (BUILD / "SANITIZED").exists():
        args[1:1] = ["--engine-dir", str(BUILD)]
    p = subprocess.run(BENCH + args, capture_output=True, text=True,
                       timeout=timeout, cwd=cwd, env=e)
    # Keep what happened visible in pytest's report on failure.
    sys.stderr.write(f"$ dmabuf-bench {' '.join(map(str, args))}  -> {p.returncode}\n"
                     f"{p.stderr[-6000:]}")
    return p


def rows(d):
    return json.loads((Path(d) / "results.json").read_text())["rows"]


def need_host_tools():
    if not Path("/usr/bin/python3").exists():
        pytest.skip("/usr/bin/python3 (Debian's python3) is missing")
    if not shutil.which("fio"):
        pytest.skip("fio is not installed (scripts/setup installs it)")
    if not (BUILD / "dmabuf_uring").exists():
        pytest.skip(f"engine not built: {BUILD / 'dmabuf_uring'} is missing (run scripts/setup)")


def need_matplotlib():
    r = subprocess.run(["/usr/bin/python3", "-c", "import matplotlib"], capture_output=True)
    if r.returncode:
        pytest.skip("python3-matplotlib is missing for /usr/bin/python3 (apt-get install "
                    "python3-matplotlib)")


def need_vm():
    need_host_tools()
    if not shutil.which("qemu-system-x86_64"):
        pytest.skip("qemu-system-x86_64 is missing (the VM rig needs qemu-system-x86)")
    if not (REPO / "scripts" / "dbu" / "vm.py").exists():
        pytest.skip("the VM rig (scripts/dbu/vm.py) is missing")
    if not Path("/bin/busybox").exists():
        pytest.skip("/bin/busybox is missing (the VM rig needs busybox-static)")
