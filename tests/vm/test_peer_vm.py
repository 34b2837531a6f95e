# SPDX-License-Identifier: GPL-2.0-only
"""vm tier: device memory that is really MMIO, the rig's --peer-bar.

The peer is QEMU's ivshmem-plain, whose BAR2 is a file on this host, bound
to vfio-pci in a guest running Debian sid's kernel (vfio dma-buf export).
One boot (intel-iommu strict, the NVMe with a 16 MiB CMB) runs:

- dmabuf_src=vfio + bounce in both directions with fio's verify blocks and
  poisoned destinations; after each, the guest dumps the NVMe region
  (O_DIRECT) and the test compares it here with the BAR's bytes as the
  host file holds them: the independent witness, outside the guest;
- dmabuf_src=p2pmem (the NVMe's CMB as P2PDMA pages) with pages attach,
  both directions, verified by fio against independent psync I/O;
- every refusal the guest can show, each by its message.

Two more short boots show the refusals of their configuration: no IOMMU
(no IOMMU group) and trixie's kernel (no vfio dma-buf export). What needs
the io_uring dma-buf series (kernel attach on the BAR, the P2P distance
refusal, the silent no-op behind a switch) is the kernel tier's
tests/kernel/test_p2p_series.py.
"""
import re
import shlex

import pytest

from dbu_test import read_reports

pytestmark = pytest.mark.vm

DEV = "/dev/nvme0n1"
BAR = 16 << 20
COMMON = ["--direct=1", "--allow_file_create=0", f"--filename={DEV}",
          "--size=4m", "--bs=128k"]
VERIFY_MAGIC = b"\xca\xac"


def sh_arg(a):
    """One word for the guest's shell; $DBU_* and $D are for it to expand."""
    return f'"{a}"' if "$" in a else shlex.quote(a)


def line(name, args, report=True):
    """One guest fio command: stderr, exit status (and report) under name."""
    rep = [f"--dmabuf_report=$D/{name}.jsonl"] if report else []
    q = " ".join(sh_arg(a) for a in [f"--name={name}", *args, *rep])
    return f'fio {q} 2>"$D/{name}.err" >/dev/null; echo $? >"$D/{name}.rc"'


def fio(name, *args):
    return line(name, args)


def psync(name, *args):
    return line(name, ["--ioengine=psync", *args], report=False)


def engine(src, attach, *args):
    return ["--ioengine=dmabuf_uring", f"--dmabuf_src={src}",
            f"--dmabuf_attach={attach}", *COMMON, *args]


WRITE = ["--rw=write", "--verify=crc32c", "--do_verify=0", "--iodepth=8"]
READ = ["--rw=write", "--verify=crc32c", "--verify_only=1", "--verify_fatal=1",
        "--buffer_pattern=0xdeadbeef", "--iodepth=8"]
POISON = [*COMMON, "--rw=write", "--buffer_pattern=0xdeadbeef"]
SEED = [*COMMON, "--rw=write", "--verify=crc32c", "--do_verify=0"]
WITNESS = [*COMMON, "--rw=write", "--verify=crc32c", "--verify_only=1",
           "--verify_fatal=1"]
DUMP = f'dd if={DEV} of="$D/{{0}}" bs=1M count=4 iflag=direct 2>/dev/null'


def main_script():
    v = "vfio:$DBU_PEER_BDF"
    p = "p2pmem:$DBU_NVME_BDF"
    lines = [
        'echo "$DBU_PEER_BDF $DBU_NVME_BDF $DBU_PEER_FILE $DBU_PEER_SIZE" >"$D/env"',
        # GPU memory -> NVMe, through RAM
        psync("poison-w", *POISON),
        fio("vfio-write", *engine(v, "bounce", *WRITE)),
        DUMP.format("dev-w.bin"),
        'cat "$DBU_PEER_FILE" >"$D/bar-w.bin"',  # over 9p: the host's file
        psync("witness-w", *WITNESS),
        # P2PDMA pages (the NVMe's CMB), both ways
        psync("poison-pw", *POISON),
        fio("p2pmem-write", *engine(p, "pages", *WRITE)),
        psync("witness-pw", *WITNESS),
        psync("seed-pr", *SEED),
        fio("p2pmem-read", *engine(p, "pages", *READ)),
        # refusals
        fio("vfio-pages", *engine(v, "pages", "--rw=read")),
        fio("vfio-kernel", *engine(v, "kernel", "--rw=read")),
        fio("vfio-small", *engine(v, "bounce", "--rw=read", "--bs=1m",
                                  "--iodepth=32")),
        fio("vfio-bar1", *engine(v + ":1", "bounce", "--rw=read")),
        fio("vfio-nodev", *engine("vfio:0000:00:1e.0", "bounce", "--rw=read")),
        fio("vfio-syntax", *engine("vfio:04.0", "bounce", "--rw=read")),
        'exec 9<"/dev/vfio/$(basename "$(readlink '
        '/sys/bus/pci/devices/$DBU_PEER_BDF/iommu_group)")"',
        fio("vfio-busy", *engine(v, "bounce", "--rw=read")),
        "exec 9<&-",
        'echo "$DBU_PEER_BDF" >/sys/bus/pci/drivers/vfio-pci/unbind',
        fio("vfio-unbound", *engine(v, "bounce", "--rw=read")),
        'echo "$DBU_PEER_BDF" >/sys/bus/pci/drivers_probe',
        fio("p2pmem-kernel", *engine(p, "kernel", "--rw=read")),
        fio("p2pmem-bounce", *engine(p, "bounce", "--rw=read")),
        fio("p2pmem-none", *engine("p2pmem:$DBU_PEER_BDF", "pages",
                                   "--rw=read")),
        # NVMe -> GPU memory, through RAM: last, so the BAR keeps it
        psync("seed-r", *SEED),
        fio("vfio-read", *engine(v, "bounce", *READ)),
        DUMP.format("dev-r.bin"),
    ]
    return lines


def script(d, lines):
    body = "\n".join(lines)
    return f"#!/bin/sh\nD={shlex.quote(str(d))}\ncd \"$D\" || exit 1\n{body}\n"


class Run:
    def __init__(self, d, name):
        self.rc = int((d / f"{name}.rc").read_text())
        self.err = (d / f"{name}.err").read_text()
        rep = d / f"{name}.jsonl"
        self.report = read_reports(rep)[-1] if rep.exists() else None


def boot(rig, d, lines, **kw):
    (d / "run.sh").write_text(script(d, lines))
    rc, out = rig.run(["/bin/sh", str(d / "run.sh")], rw=[str(d)],
                      timeout=900, stream=False, **kw)
    assert rc == 0, out[-4000:]
    return lambda name: Run(d, name)


@pytest.fixture(scope="module")
def peer(rig, tmp_path_factory):
    d = tmp_path_factory.mktemp("peer")
    bar = d / "bar.bin"
    bar.write_bytes(b"\xee" * BAR)  # not the guest's poison: nothing stale passes
    run = boot(rig, d, main_script(), peer_bar=f"16m:{bar}", iommu="strict",
               nvme_cmb_mb=16)
    return d, bar, run


def blocks(mem):
    """(position, length, device offset) of fio's verify blocks in mem."""
    out, pos = [], 0
    while pos + 24 <= len(mem):
        if mem[pos:pos + 2] == VERIFY_MAGIC:
            n = int.from_bytes(mem[pos + 4:pos + 8], "little")
            off = int.from_bytes(mem[pos + 16:pos + 24], "little")
            out.append((pos, n, off))
            pos += n
        else:
            pos += 4096
    return out


def assert_witness(mem, dev, expect_blocks):
    """Every verify block in the BAR equals the NVMe at its offset."""
    found = blocks(mem)
    assert len(found) == expect_blocks, [(hex(p), n, hex(o)) for p, n, o in found]
    for pos, n, off in found:
        assert n == 128 << 10
        assert mem[pos:pos + n] == dev[off:off + n], \
            f"BAR offset {pos:#x} differs from the NVMe at {off:#x}"
    return sum(n for _, n, _ in found)


def test_env_names_the_peer_and_the_nvme(peer):
    d, bar, _ = peer
    bdf, nvme, path, size = (d / "env").read_text().split()
    assert bdf == "0000:00:04.0" and nvme.startswith("0000:00:")
    assert path == str(bar) and int(size) == BAR
    assert bar.stat().st_size == BAR  # kept after the run


def test_vfio_bounce_write_lands_from_the_bar(peer):
    d, _, run = peer
    r = run("vfio-write")
    assert r.rc == 0, r.err
    rep = r.report
    assert rep["placement"] == ("PCI BAR2 of 0000:00:04.0 (1af4:1110), "
                                "16 MiB, prefetchable, MMIO")
    assert rep["exporter"] == "vfio_pci_core" and rep["attach"] == "bounce"
    assert rep["bounce_bytes"] == 4 << 20 and not rep["errors"]
    assert run("witness-w").rc == 0, run("witness-w").err
    got = assert_witness((d / "bar-w.bin").read_bytes(),
                         (d / "dev-w.bin").read_bytes(), 8)
    assert got == 1 << 20


def test_vfio_bounce_read_lands_in_the_bar_seen_from_the_host(peer):
    d, bar, run = peer
    r = run("vfio-read")
    assert r.rc == 0, r.err
    assert r.report["bounce_bytes"] == 4 << 20
    mem = bar.read_bytes()  # this host's file, read after the guest is gone
    assert assert_witness(mem, (d / "dev-r.bin").read_bytes(), 8) == 1 << 20
    area = sum(r.report["buffers"])
    assert mem[area:area + 4096] == b"\xee" * 4096  # nothing past the area


def test_p2pmem_pages_both_directions(peer):
    _, _, run = peer
    for name, check in (("p2pmem-write", "witness-pw"), ("p2pmem-read", None)):
        r = run(name)
        assert r.rc == 0, r.err
        rep = r.report
        assert rep["attach"] == "pages" and rep["sqe_ops"] == "READ/WRITE"
        assert rep["exporter"] == "none (p2pmem)"
        assert rep["placement"].startswith("PCI P2PDMA memory of 0000:00:")
        assert rep["placement"].endswith("(1b36:0010, nvme), 16 MiB published, "
                                         "MMIO with struct pages")
        if check:
            assert run(check).rc == 0, run(check).err


REFUSALS = {
    "vfio-pages": "dmabuf_src=vfio:0000:00:04.0 is a PCI BAR (MMIO) without "
                  "struct pages: io_uring cannot pin it.",
    "vfio-kernel": "the kernel lacks the io_uring dma-buf registration series",
    # the area's size is fio's (its alignment slack differs by release)
    "vfio-small": re.compile(r"BAR2 of 0000:00:04\.0 \(1af4:1110\) is 16 MiB, "
                             r"smaller than the buffer area of \d{8} bytes "
                             r"\(iodepth 32 x bs 1048576, page aligned\)\."),
    "vfio-bar1": "BAR1 of 0000:00:04.0 (1af4:1110) is not implemented. Try "
                 "dmabuf_src=vfio:0000:00:04.0 (the largest memory BAR).",
    "vfio-nodev": "there is no PCI device 0000:00:1e.0 "
                  "(/sys/bus/pci/devices/0000:00:1e.0 is missing).",
    "vfio-syntax": "dmabuf_src=vfio:04.0: expected vfio:BDF[:BAR], e.g. "
                   "vfio:0000:00:04.0 or vfio:00:04.0:2 (BAR 0-5).",
    "vfio-busy": "is open elsewhere: vfio allows one user of a group",
    "vfio-unbound": "0000:00:04.0 (1af4:1110) is bound to no driver, not bound "
                    "to vfio-pci. Bind it: modprobe vfio-pci; echo vfio-pci > "
                    "/sys/bus/pci/devices/0000:00:04.0/driver_override;",
    "p2pmem-kernel": "dmabuf_src=p2pmem:0000:00:",
    "p2pmem-bounce": "dmabuf_attach=bounce: Operation not supported "
                     "(EOPNOTSUPP). dmabuf_src=p2pmem:0000:00:01.0 is P2PDMA "
                     "memory with struct pages, which O_DIRECT reaches "
                     "directly: its route is dmabuf_attach=pages. For the "
                     "through-RAM baseline use a dma-buf of device memory "
                     "(dmabuf_src=vfio:BDF).",
    "p2pmem-none": "0000:00:04.0 (1af4:1110, driver vfio-pci) publishes no "
                   "P2PDMA memory (no p2pmem/ in sysfs)",
}


@pytest.mark.parametrize("name", sorted(REFUSALS))
def test_refusal(peer, name):
    _, _, run = peer
    r = run(name)
    assert r.rc != 0
    assert f"fio: dmabuf_uring: " in r.err
    want = REFUSALS[name]
    if isinstance(want, str):
        assert want in r.err, r.err
    else:
        assert want.search(r.err), r.err
    if name == "p2pmem-kernel":
        assert "exports no dma-buf" in r.err


def test_rebound_after_unbind(peer):
    """The unbind refusal left the device usable: the later read ran."""
    _, _, run = peer
    assert run("vfio-read").rc == 0


def test_no_iommu_no_group(rig, tmp_path):
    run = boot(rig, tmp_path, [fio("vfio-off", *engine(
        "vfio:$DBU_PEER_BDF", "bounce", "--rw=read"))],
        peer_bar="16m", iommu="off")
    r = run("vfio-off")
    assert r.rc != 0
    assert ("0000:00:04.0 (1af4:1110) is in no IOMMU group: the kernel "
            "translates no DMA for it (boot with intel_iommu=on or "
            "amd_iommu=on)") in r.err, r.err


def test_trixie_has_no_vfio_dmabuf_export(rig, tmp_path):
    run = boot(rig, tmp_path, [fio("vfio-612", *engine(
        "vfio:$DBU_PEER_BDF", "bounce", "--rw=read"))],
        peer_bar="16m", iommu="strict", debian="trixie")
    r = run("vfio-612")
    assert r.rc != 0
    assert ("VFIO_DEVICE_FEATURE_DMA_BUF: Inappropriate ioctl for device "
            "(ENOTTY). BAR2 of 0000:00:04.0, ") in r.err, r.err
    assert "cannot export a BAR as a dma-buf" in r.err
