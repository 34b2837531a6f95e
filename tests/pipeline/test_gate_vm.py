# SPDX-License-Identifier: GPL-2.0-only
"""The CI gate in the deterministic rig (docs/ci-gate.md), end to end.

Real boots, real fio, real engines on the guest's null_blk: the same engine
in two boots passes `compare` at its deterministic default (2 %); an engine
built with a fixed amount of work per I/O (cmake -DDBU_TEST_SLOWDOWN=120,
about 6 % on nullb0) fails it with exit 1 and the metric named; and icount
rows are never compared with plain-TCG rows (exit 2).
"""
import re
import subprocess

import pytest

from pipeline_util import BUILD, REPO, bench, need_vm, rows

pytestmark = [pytest.mark.vm, pytest.mark.nosanitize]

JOBS = "randread-4k/host-pages-qd*"
# 60 turns (about 3 %) measured +5.4 % and +1.6 % in one CI run
# (2026-12-03): boot-to-boot noise of about 1.5 % on 1-s jobs can take a
# 3 % regression under the 2 % gate. 120 stays clear of it.
SLOWDOWN = 120


def _run(out, *extra):
    p = bench("run", "iommu-cost", "--vm", "--target", "/dev/nullb0", "--job", JOBS,
              "--runtime", "1", "--out", out, *extra, timeout=600)
    assert p.returncode == 0, p.stderr[-3000:]
    return out


@pytest.fixture(scope="module")
def slow_engine(tmp_path_factory):
    need_vm()
    fio_src = next((BUILD / "fio-src").glob("fio-*/config-host.h"), None)
    if fio_src is None:
        pytest.skip(f"no configured fio source under {BUILD / 'fio-src'} (scripts/setup)")
    d = tmp_path_factory.mktemp("slow-engine")
    for cmd in (["cmake", "-S", str(REPO), "-B", str(d), f"-DFIO_SOURCE_DIR={fio_src.parent}",
                 f"-DDBU_TEST_SLOWDOWN={SLOWDOWN}"], ["cmake", "--build", str(d), "-j2"]):
        p = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
        assert p.returncode == 0, p.stdout[-2000:] + p.stderr[-2000:]
    return d


@pytest.fixture(scope="module")
def boots(tmp_path_factory, slow_engine):
    base = tmp_path_factory.mktemp("gate")
    return {"a": _run(base / "a"), "b": _run(base / "b"),
            "slow": _run(base / "slow", "--engine-dir", slow_engine),
            "tcg": _run(base / "tcg", "--no-deterministic")}


def _deltas(text, metric):
    return [float(m) for m in re.findall(rf"\s([+-][\d.]+)%\s+\S+\s+{metric}\s", text)]


def test_rows_are_labelled_icount(boots):
    for r in rows(boots["a"]):
        assert r["status"] == "ok" and r["platform"] == "vm-icount", r
        assert r["device"] == "nullb0" and r["ns_per_io"] > 0
    assert {r["platform"] for r in rows(boots["tcg"])} == {"vm-tcg"}
    assert all(f"+slowdown{SLOWDOWN}" in r["engine_version"] for r in rows(boots["slow"]))


def test_same_engine_two_boots_passes_at_2_percent(boots):
    p = bench("compare", boots["a"], boots["b"])
    assert p.returncode == 0, p.stdout + p.stderr
    assert "threshold 2%, gated: iops,bw_mib,ns_per_io" in p.stdout
    assert "no regression beyond 2%" in p.stderr
    deltas = _deltas(p.stdout, "ns_per_io")
    print(f"same engine, two boots: ns_per_io deltas {deltas} %")
    # Under the gate's own 2 %: 1-s jobs have moved by 1.3 % (QD 1, one CI
    # run of 2026-12-02, clat identical: time outside the I/O path).
    assert len(deltas) == 2 and all(abs(d) < 2.0 for d in deltas), deltas


def test_slowed_engine_fails_and_names_the_metric(boots):
    p = bench("compare", boots["a"], boots["slow"])
    assert p.returncode == 1, p.stdout + p.stderr
    deltas = _deltas(p.stdout, "ns_per_io")
    print(f"engine with {SLOWDOWN} turns per I/O: ns_per_io deltas {deltas} %")
    assert len(deltas) == 2 and all(3.0 < d < 10.0 for d in deltas), deltas
    for job in ("host-pages-qd1", "host-pages-qd128"):
        assert re.search(rf"randread-4k/{job} .*: ns_per_io \d+ -> \d+ \(\+[\d.]+%\)",
                         p.stderr), p.stderr
        assert re.search(rf"randread-4k/{job} .*: iops \d+ -> \d+ \(-[\d.]+%\)", p.stderr)


def test_icount_rows_are_not_compared_with_tcg_rows(boots):
    p = bench("compare", boots["a"], boots["tcg"])
    assert p.returncode == 2, p.stdout + p.stderr
    assert "platform vm-icount -> vm-tcg" in p.stderr
    assert "deterministic (icount) figures count guest instructions" in p.stderr
