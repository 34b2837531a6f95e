# SPDX-License-Identifier: GPL-2.0-only
"""`dmabuf-bench run p2p --vm --peer-bar`: the p2p scenario on real MMIO.

One sid boot (intel-iommu strict): GPU_SRC is the ivshmem BAR through
vfio-pci, P2PMEM_SRC the CMB of a second NVMe controller (--peer-cmb). bounce and p2pmem rows run, kernel
rows are refused "series absent" on Debian's kernel, and after each vfio
verify job the runner compares the BAR's host file with the NVMe (the
device-memory witness). The report's rows say where the memory was: MMIO
BAR or P2PDMA pages, never drm.
"""
import re

import pytest

from pipeline_util import bench, need_vm, rows

pytestmark = [pytest.mark.vm, pytest.mark.nosanitize]

BAR = "PCI BAR2 of 0000:00:04.0 (1af4:1110), 16 MiB, prefetchable, MMIO"
AGREE = "8 blocks, 1048576 bytes agree with the NVMe"


@pytest.fixture(scope="module")
def p2p(tmp_path_factory):
    need_vm()
    d = tmp_path_factory.mktemp("p2p-peer")
    bar = d / "peer" / "bar.bin"
    p = bench("run", "p2p", "--vm", "--peer-bar", f"16m:{bar}", "--runtime", "1",
              "--out", d / "res", timeout=1200)
    assert p.returncode == 0, p.stderr[-3000:]
    return d / "res", bar, p


def by_job(res):
    return {r["job"]: r for r in rows(res)}


def test_bounce_and_p2pmem_run_kernel_is_refused_series_absent(p2p):
    res, _, _ = p2p
    got = by_job(res)
    for rw in ("read", "write"):
        for bs in ("128k", "1m"):
            b, k, m = (got[f"seq/{rw}-{bs}-{a}"] for a in ("bounce", "kernel", "p2pmem"))
            assert b["status"] == "ok" and b["source"] == "vfio:0000:00:04.0", b
            assert (b["exporter"], b["placement"]) == ("vfio_pci_core", BAR)
            assert k["status"] == "refused" and "series absent" in k["reason"], k
            assert "MMIO" in k["placement"] and "drm" not in k["placement"]
            assert m["status"] == "ok" and m["attach"] == "pages", m
            assert m["source"].startswith("p2pmem:0000:00:")
            assert m["placement"].endswith("MMIO with struct pages"), m
    assert all(r["iommu"] == "strict" for r in got.values())


def test_witness_agrees_after_every_vfio_verify_job(p2p):
    res, bar, p = p2p
    got = by_job(res)
    for job in ("verify-read/read-bounce", "verify-write/write-bounce"):
        assert got[job]["status"] == "ok", got[job]
        assert got[job]["peer_witness"] == AGREE, got[job]
        assert f"{job}: device-memory witness ({bar}): {AGREE}" in p.stderr
    for job in ("verify-write/witness-bounce", "verify-write/witness-p2pmem",
                "verify-read/read-p2pmem"):
        assert got[job]["status"] == "ok", got[job]
    assert bar.stat().st_size == 16 << 20  # FILE is kept


def test_report_has_memory_and_witness_columns(p2p):
    res, _, _ = p2p
    p = bench("report", res)
    assert p.returncode == 0, p.stderr
    head = next(ln for ln in p.stdout.splitlines() if ln.startswith("job "))
    assert re.search(r"\smemory\s.*\sdevice-memory witness\s", head), head
    assert "PCI BAR2 of 0000:00:04.0" in p.stdout
    assert " drm " not in p.stdout
