# SPDX-License-Identifier: GPL-2.0-only
"""Kernel-feature tier: NVMe <-> device memory peer to peer, and the verify
chain's mutation test (issue 12), in the rig with the --peer-bar.

`dmabuf-bench run p2p --vm --peer-bar 16m --job 'verify-*/*'` boots:

  root      NVMe and the ivshmem BAR on the root bus, CPU family 23 (the
            AMD Zen host-bridge rule of pci_p2pdma_distance): kernel attach
            on dmabuf_src=vfio moves data device to device; both verify
            chains and the BAR's host file (the witness) must agree.
  switch    both behind one emulated PCIe switch, intel-iommu strict: Linux
            maps P2P by bus address, which QEMU does not route inside the
            switch, so each I/O completes with full length and moves no
            data. The verify chains must fail, naming the first bad offset:
            a silent no-op that passed would make every P2P figure a lie.
  unlisted  the root bus with TCG's own CPU (AMD family 15): the first I/O
            is refused EINVAL, and the engine names the P2P check.

The kernel: DBU_KERNEL_BZIMAGE [+ DBU_KERNEL_MODULES], one with the io_uring
dma-buf series and vfio's dma-buf export (Linux 7.x, CONFIG_VFIO_PCI_DMABUF,
CONFIG_PCI_P2PDMA); without it Debian sid's, which has the export but not
the series. The root boot goes first: where its kernel rows say "series
absent", every test skips with that reason and the other boots are not made.
"""
import os
import re

import pytest

from pipeline.pipeline_util import bench, need_vm, rows

pytestmark = [pytest.mark.kernel, pytest.mark.nosanitize]

BZ = os.environ.get("DBU_KERNEL_BZIMAGE")
MODS = os.environ.get("DBU_KERNEL_MODULES")
HOW = ("set DBU_KERNEL_BZIMAGE (+DBU_KERNEL_MODULES) to a kernel with the "
       "series and CONFIG_VFIO_PCI_DMABUF")
KERNEL_JOBS = ("verify-read/read-kernel", "verify-write/write-kernel",
               "verify-write/witness-kernel")
BAD_OFFSET = re.compile(r"(bad magic header|crc32c|verify).*offset \d+|"
                        r"MISMATCH: BAR offset 0x[0-9a-f]+")


def boot(base, topology):
    out = base / topology
    args = ["run", "p2p", "--vm", "--peer-bar", f"16m:{out / 'bar.bin'}",
            "--peer-topology", topology, "--runtime", "1", "--job", "verify-*/*",
            "--out", out / "res"]
    if BZ:
        args += ["--kernel", BZ] + (["--modules", MODS] if MODS else [])
    p = bench(*args, timeout=1200)
    assert p.returncode in (0, 1), p.stderr[-3000:]
    return {r["job"]: r for r in rows(out / "res")}


@pytest.fixture(scope="module")
def topologies(tmp_path_factory):
    need_vm()
    base = tmp_path_factory.mktemp("p2p-series")
    got = {"root": boot(base, "root")}
    b = got["root"]["verify-read/read-bounce"]
    assert b["status"] == "ok", f"the rig's peer boot did not run the jobs: {b}"
    k = got["root"]["verify-read/read-kernel"]
    if k["status"] == "refused" and "series absent" in k["reason"]:
        pytest.skip(f"kernel {k.get('kernel', '?')} lacks the io_uring dma-buf "
                    f"series (uapi_probe={k.get('uapi_probe')}): kernel attach "
                    f"on the peer BAR cannot run; {HOW}")
    if k["status"] == "refused" and "VFIO_DEVICE_FEATURE_DMA_BUF" in k["reason"]:
        pytest.skip(f"kernel {k.get('kernel', '?')} has the series but no vfio "
                    f"dma-buf export: {k['reason'][:200]}; {HOW}")
    for t in ("switch", "unlisted"):
        got[t] = boot(base, t)
    return got


def test_root_kernel_attach_moves_data_device_to_device(topologies):
    got = topologies["root"]
    for job in KERNEL_JOBS:
        assert got[job]["status"] == "ok", got[job]
    for job in ("verify-read/read-kernel", "verify-write/write-kernel"):
        assert got[job]["uapi_probe"] == "present"
        assert got[job]["placement"].endswith("prefetchable, MMIO")
        assert got[job]["peer_witness"].endswith("bytes agree with the NVMe"), got[job]


def test_switch_silent_noop_fails_every_kernel_chain(topologies):
    got = topologies["switch"]
    for job in ("verify-read/read-kernel", "verify-write/witness-kernel"):
        r = got[job]
        assert r["status"] == "failed", r
        assert BAD_OFFSET.search(r["reason"]), r["reason"]
    # the witness: the BAR kept fio's blocks, the NVMe got none of them
    w = got["verify-write/write-kernel"]
    assert w["status"] == "failed", w
    assert w["peer_witness"].startswith("MISMATCH: BAR offset 0x"), w
    # bounce goes through RAM: the switch does not matter to it
    for job in ("verify-read/read-bounce", "verify-write/witness-bounce"):
        assert got[job]["status"] == "ok", got[job]


def test_unlisted_host_bridge_names_the_p2p_check(topologies):
    got = topologies["unlisted"]
    for job in ("verify-read/read-kernel", "verify-write/write-kernel"):
        r = got[job]
        assert r["status"] in ("refused", "failed"), r
        assert "pci_p2pdma_distance" in r["reason"], r["reason"]
        assert "do not share an upstream bridge or whitelisted host" in r["reason"]

