# SPDX-License-Identifier: GPL-2.0-only
"""The p2p verify chains catch a transfer that completes and moves nothing.

Behind one emulated PCIe switch under intel-iommu, Linux maps peer-to-peer
DMA by bus address, which QEMU does not route inside the switch: the
request completes with full length, the IOMMU faults ("PTE Read access is
not set" in dmesg), and no byte moves. Without the io_uring dma-buf series
this happens to P2PDMA pages: the NVMe's O_DIRECT reads and writes into a
second NVMe's CMB (`--peer-cmb`, dmabuf_src=p2pmem). The same verify jobs
(jobs/p2p/verify-*.fio, run by dmabuf-bench) must pass on the root bus,
where the transfer goes through the host bridge and the IOMMU, and fail
behind the switch with fio naming the first bad offset. The series' own
case (kernel attach on the vfio BAR) is tests/kernel/test_p2p_series.py.
"""
import re

import pytest

from pipeline_util import bench, need_vm, rows

pytestmark = [pytest.mark.vm, pytest.mark.nosanitize]

CHAINS = ("verify-read/read-p2pmem", "verify-write/witness-p2pmem")
# fio's verify message: the poison (0xdeadbeef) where the NVMe's block
# should have landed, or nothing (zeros) where the CMB's should have
BAD = re.compile(r"verify: bad magic header (adde|0), wanted acca at file "
                 r"/dev/nvme0n1 offset \d+, length 131072")


def run(base, topology):
    out = base / topology
    p = bench("run", "p2p", "--vm", "--peer-bar", "16m", "--peer-cmb", "16",
              "--peer-topology", topology, "--runtime", "1", "--job", "verify-*/*",
              "--out", out, timeout=900)
    assert p.returncode in (0, 1), p.stderr[-3000:]
    return p.returncode, {r["job"]: r for r in rows(out)}


@pytest.fixture(scope="module")
def topologies(tmp_path_factory):
    need_vm()
    base = tmp_path_factory.mktemp("p2p-mutation")
    return {t: run(base, t) for t in ("root", "switch")}


def test_root_bus_p2pmem_chains_pass(topologies):
    rc, got = topologies["root"]
    assert rc == 0
    for job in CHAINS + ("verify-write/write-p2pmem",):
        assert got[job]["status"] == "ok", got[job]
    r = got["verify-read/read-p2pmem"]
    assert re.fullmatch(r"p2pmem:0000:00:05\.0", r["source"]), r
    assert r["placement"].startswith("PCI P2PDMA memory of 0000:00:05.0 (1b36:0010, nvme)")


def test_switch_silent_noop_fails_both_chains_naming_the_offset(topologies):
    rc, got = topologies["switch"]
    assert rc == 1
    for job in CHAINS:
        r = got[job]
        assert r["status"] == "failed", r
        assert BAD.search(r["reason"]), r["reason"]
    # the write itself completed: only the independent reader sees the loss
    assert got["verify-write/write-p2pmem"]["status"] == "ok"
    # through RAM the switch does not matter: the vfio bounce chains pass
    for job in ("verify-read/read-bounce", "verify-write/witness-bounce"):
        assert got[job]["status"] == "ok", got[job]
