# SPDX-License-Identifier: GPL-2.0-only
"""`dmabuf-bench overhead --vm`: the engine against fio's io_uring engine and
t/io_uring on the guest's null_blk, in the deterministic rig.

t/io_uring prints IOPS=151.74K above 100K; read as 151 it made the baseline
look like 150 IOPS. Here it must be the leanest of the three (no per-I/O
clock reads), and every row carries its guest ns per I/O.
"""
import json
import re

import pytest

from pipeline_util import BUILD, bench, need_vm

pytestmark = [pytest.mark.vm, pytest.mark.nosanitize]


@pytest.fixture(scope="module")
def result(tmp_path_factory):
    need_vm()
    if not (BUILD / "fio-src").is_dir():
        pytest.skip(f"no fio source under {BUILD / 'fio-src'} for t/io_uring "
                    "(scripts/setup)")
    out = tmp_path_factory.mktemp("overhead") / "o.json"
    p = bench("overhead", "--vm", "--qd", "1,32", "--runtime", "1", "--json", out,
              timeout=900)
    assert p.returncode == 0, p.stdout[-3000:] + p.stderr[-3000:]
    return p.stdout, json.loads(out.read_text())


def test_platform_and_target(result):
    text, doc = result
    assert doc["meta"]["platform"] == "vm-icount"
    assert doc["meta"]["target"] == "/dev/nullb0" and doc["meta"]["target_iops"] == 1.0
    assert "deterministic rig: guest time counts guest instructions" in text


@pytest.mark.parametrize("qd", ["1", "32"])
def test_t_io_uring_is_the_leanest_baseline(result, qd):
    _, doc = result
    [r] = doc["results"][qd]["rounds"]
    fio, dbu, t = r["io_uring"]["iops"], r["dmabuf_uring"]["iops"], r["t_io_uring"]["iops"]
    print(f"QD{qd}: io_uring {fio:.0f} dmabuf_uring {dbu:.0f} t/io_uring {t:.0f} IOPS")
    assert 50000 < fio < 200000 and 50000 < dbu < 200000
    assert t > 1.3 * fio, "t/io_uring does no per-I/O clock reads: it must lead"


def test_report_prints_ns_per_io(result):
    text, _ = result
    for qd in ("1", "32"):
        block = text.split(f"\nQD {qd}\n", 1)[1]
        for eng in ("io_uring", "dmabuf_uring", "t_io_uring"):
            m = re.search(rf"^  {eng}\s+(\d+)\s+\d+\s+\d+\s+(\d+)", block, re.M)
            assert m, block
            assert abs(int(m.group(2)) - 1e9 / int(m.group(1))) <= 1
