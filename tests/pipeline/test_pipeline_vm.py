# SPDX-License-Identifier: GPL-2.0-only
"""VM tier of the result pipeline: scenarios run in the QEMU rig (real
udmabuf, DMA heap, vgem, emulated NVMe, intel-iommu), one boot per IOMMU
mode (plain TCG, the default of run --vm on the NVMe), then report,
compare and plot on those results. These tests check labels, rows and
reasons."""
import json
from pathlib import Path

import pytest

from pipeline_util import bench, need_matplotlib, need_vm, rows

# runs dmabuf-bench, which always takes build/
pytestmark = [pytest.mark.vm, pytest.mark.nosanitize]

MODES = ("strict", "lazy", "pt")
DOMAIN = {"strict": "DMA", "lazy": "DMA-FQ", "pt": "identity", "off": "none"}
SOURCES = ("host", "udmabuf", "heap", "drm")
ATTACHES = ("pages", "bounce", "kernel")


@pytest.fixture(scope="module")
def smoke_dir(tmp_path_factory):
    need_vm()
    out = tmp_path_factory.mktemp("vm-smoke") / "res"
    p = bench("run", "smoke", "--vm", "--runtime", "1", "--set", "VERIFY_SIZE=4m",
              "--out", out, timeout=900)
    assert p.returncode in (0, 1), p.stderr[-3000:]
    return out, p


@pytest.fixture(scope="module")
def iommu_dir(tmp_path_factory):
    need_vm()
    out = tmp_path_factory.mktemp("vm-iommu") / "res"
    # The six randread-4k jobs (the io_uring reference file is left out to
    # keep three boots short; the host tier runs it).
    p = bench("run", "iommu-cost", "--vm", "--iommu", ",".join(MODES), "--runtime", "1",
              "--job", "randread-4k/*", "--out", out, timeout=1500)
    assert p.returncode == 0, p.stderr[-3000:]
    return out


def test_smoke_every_source_x_attach_is_a_row(smoke_dir):
    out, _ = smoke_dir
    by_job = {r["job"]: r for r in rows(out)}
    assert set(by_job) == {f"mixed-verify/{s}-{a}" for s in SOURCES for a in ATTACHES}
    for r in by_job.values():
        assert r["iommu"] == "off" and r["platform"] == "vm-tcg"
        assert r["device"] == "nvme0n1:QEMU NVMe Ctrl"
        if r["status"] == "ok":
            assert r["iops"] > 0 and r["ios"] > 0 and not r["reason"]
        else:
            assert r["iops"] is None and r["reason"], r
    # The classic path works in the guest; kernel attach on a stock kernel
    # and pages for heap/drm are refused with their messages.
    assert by_job["mixed-verify/host-pages"]["status"] == "ok"
    for s in SOURCES:
        assert by_job[f"mixed-verify/{s}-kernel"]["status"] == "refused"
    for s in ("heap", "drm"):
        assert by_job[f"mixed-verify/{s}-pages"]["status"] == "refused"
    assert by_job["mixed-verify/udmabuf-kernel"]["uapi_probe"] == "absent"


def test_smoke_every_combination_that_runs_verifies(smoke_dir):
    out, p = smoke_dir
    failed = {r["job"]: r["reason"] for r in rows(out) if r["status"] == "failed"}
    assert not failed, f"smoke jobs failed after starting: {json.dumps(failed, indent=1)}"
    assert p.returncode == 0


def test_smoke_report_and_plot(smoke_dir):
    need_matplotlib()
    out, _ = smoke_dir
    md = bench("report", out, "--markdown")
    assert md.returncode == 0
    assert md.stdout.count("| mixed-verify/") == 12
    p = bench("plot", out)
    assert p.returncode == 0
    png = Path(p.stdout.split()[0]).read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 10_000


def test_iommu_cost_one_boot_per_mode_labelled_from_sysfs(iommu_dir):
    rs = rows(iommu_dir)
    assert {r["iommu"] for r in rs} == set(MODES)
    for m in MODES:
        mine = {r["job"]: r for r in rs if r["iommu"] == m}
        assert len(mine) == 6, sorted(mine)
        assert mine["randread-4k/host-pages-qd128"]["status"] == "ok"
        assert mine["randread-4k/host-pages-qd1"]["iops"] > 0
        k = mine["randread-4k/udmabuf-kernel-qd128"]
        assert k["status"] == "refused" and k["iops"] is None and k["reason"]
        assert mine["randread-4k/udmabuf-pages-qd128"]["source"] == "udmabuf"
    infos = [json.loads(p.read_text()) for p in (iommu_dir / "sysinfo").iterdir()]
    assert sorted(i["iommu"]["mode"] for i in infos) == sorted(MODES)
    for i in infos:
        assert i["iommu"]["target_domain"] == DOMAIN[i["iommu"]["mode"]]
        assert i["target"]["model"] == "QEMU NVMe Ctrl" and i["target"]["driver"] == "nvme"
        assert "intel_iommu=on" in i["cmdline"]


def test_iommu_cost_report_and_plot(iommu_dir):
    need_matplotlib()
    md = bench("report", iommu_dir, "--markdown")
    assert md.returncode == 0
    for m in MODES:
        assert f"| randread-4k/udmabuf-pages-qd128 | udmabuf | pages | {m} |" in md.stdout
    txt = bench("report", iommu_dir)
    assert txt.returncode == 0 and "strict" in txt.stdout
    p = bench("plot", iommu_dir)
    assert p.returncode == 0
    png = Path(p.stdout.split()[0])
    assert png.name == "iommu-cost.png"
    data = png.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 20_000


def _subset(src, dst, mode):
    rs = [r for r in rows(src) if r["iommu"] == mode]
    dst.mkdir(parents=True)
    (dst / "results.json").write_text(json.dumps({"format": 1, "rows": rs}))
    return dst


def test_compare_refuses_other_iommu_mode(iommu_dir, tmp_path):
    strict = _subset(iommu_dir, tmp_path / "strict", "strict")
    lazy = _subset(iommu_dir, tmp_path / "lazy", "lazy")
    p = bench("compare", strict, lazy)
    assert p.returncode == 2
    assert "labels differ" in p.stderr and "iommu strict (BASE) vs lazy (NEW)" in p.stderr
    same = bench("compare", strict, strict)
    assert same.returncode == 0 and "+0.0%" in same.stdout
