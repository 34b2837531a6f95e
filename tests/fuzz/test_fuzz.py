# SPDX-License-Identifier: GPL-2.0-only
"""The libFuzzer targets (tests/fuzz/fuzz_*.c) build and run for a bounded
time without a crash.  scripts/fuzz installs clang when it is missing; if
that fails, so does this test (it never skips)."""
import re
import subprocess

import pytest

from dbu_test import REPO

# its own targets are built with ASan/UBSan, whatever DBU_BUILD_DIR says
pytestmark = [pytest.mark.host, pytest.mark.nosanitize]

TARGETS = ("src", "config", "report", "error")
SECONDS = 20
LINE = re.compile(r"^fuzz: (\w+): (\d+) execs in (\d+|\?) s, (.*)$", re.M)


def test_every_fuzz_target_runs_its_time_without_a_crash():
    res = subprocess.run([str(REPO / "scripts" / "fuzz"), "--time",
                          str(SECONDS)], capture_output=True, text=True,
                         timeout=len(TARGETS) * SECONDS + 240, check=False)
    out = res.stdout + res.stderr
    assert res.returncode == 0, f"scripts/fuzz exited {res.returncode}:\n{out}"
    found = {m[0]: (int(m[1]), m[3]) for m in LINE.findall(res.stdout)}
    assert sorted(found) == sorted(TARGETS), out
    for name, (execs, verdict) in found.items():
        assert execs > 0, f"{name} ran no inputs:\n{out}"
        assert verdict == "0 crashes", f"{name}: {verdict}\n{out}"
