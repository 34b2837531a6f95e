# SPDX-License-Identifier: GPL-2.0-only
"""vm tier: the udmabuf, heap and drm exporters against real kernel drivers.

One boot of the QEMU rig (scripts/dbu/vm.py) runs every case: a guest shell
script runs a few fio invocations, each holding many stonewalled jobs, and
leaves per batch fio's JSON, stderr, exit status and the engine's report
(one JSON line per job) in a directory shared with the guest.  Every source x
attach x target combination either passes a verify=crc32c run (writes, then
reads checked against them) or fails with its documented message; fio's exit
status is the number of failed jobs, so each batch's count is exact.

The rig loads null_blk with memory_backed=1, so /dev/nullb0 keeps data and
verifies like /dev/nvme0n1.
"""
import json
import shlex
import time

import pytest

from dbu_test import BUILD, read_reports

pytestmark = pytest.mark.vm

TARGETS = {"nvme": "/dev/nvme0n1", "nullb": "/dev/nullb0"}
# (dmabuf_src, exp_name in fdinfo, placement)
EXPORTERS = {
    "udmabuf": ("udmabuf", "udmabuf", "system RAM (memfd)"),
    "heap": ("heap", "system", "system RAM (dma-heap system)"),
    "drm": ("drm", "drm", "DRM vgem dumb buffer (/dev/dri/card0); system "
            "RAM (vgem keeps GEM objects in shmem)"),
}
SHAPES = [("4k", 1, "write", "1m"), ("4k", 32, "randwrite", "1m"),
          ("128k", 1, "randwrite", "4m"), ("128k", 32, "write", "4m")]
COMMON = ["--ioengine=dmabuf_uring", "--direct=1", "--allow_file_create=0"]
VERIFY = ["--verify=crc32c", "--do_verify=1"]
LIMIT = "/sys/module/udmabuf/parameters/size_limit_mb"
RIG_LIMIT_MB = 512      # udmabuf.size_limit_mb= on the rig's command line

PAGES_REFUSED = (
    "dmabuf_attach=pages: Bad address (EFAULT). dmabuf_src={src} has no CPU "
    "pages io_uring can pin: its dma-buf mapping is VM_PFNMAP and registering "
    "it fails with EFAULT. Try dmabuf_attach=bounce, or dmabuf_attach=kernel "
    "on a kernel with the io_uring dma-buf series.")
NO_UDMABUF = (
    "opening /dev/udmabuf: No such file or directory (ENOENT). /dev/udmabuf "
    "does not exist: the udmabuf module is not loaded or the kernel was built "
    "without CONFIG_UDMABUF. Try 'modprobe udmabuf', a kernel with "
    "CONFIG_UDMABUF, or dmabuf_src=heap or host.")
NO_DRM_DIR = (
    "finding a DRM device: No such device (ENODEV). no DRM device node in "
    "/dev/dri (it does not exist). Try loading a DRM driver ('modprobe vgem' "
    "gives a virtual one), or dmabuf_src=drm:PATH.")
NO_DRM_PATH = (
    "opening the DRM device: No such file or directory (ENOENT). "
    "/nonexistent: no such device node. Try dmabuf_src=drm to pick the first "
    "suitable device in /dev/dri, or load a DRM driver ('modprobe vgem').")
NO_HEAP = (
    "opening a DMA heap: No such file or directory (ENOENT). there is no heap "
    "'nonexistent' (/dev/dma_heap/nonexistent); the heaps present in "
    "/dev/dma_heap are: system. Try dmabuf_src=heap:NAME with one of them.")
OVER_LIMIT = (
    "dmabuf_size_max: Invalid argument (EINVAL). dmabuf_size_max=2097152 is "
    "larger than udmabuf's size_limit_mb=1 (1048576 bytes). Try "
    "dmabuf_size_max=1048576 or less, or raise the limit: 'echo N > "
    "/sys/module/udmabuf/parameters/size_limit_mb' or boot with "
    "udmabuf.size_limit_mb=N (N in MiB).")


def job(name, src, attach, target, bs, depth, rw="randwrite", size="1m",
        extra=()):
    return [f"--name={name}", "--stonewall", f"--dmabuf_src={src}",
            f"--dmabuf_attach={attach}", f"--filename={target}", f"--bs={bs}",
            f"--iodepth={depth}", f"--rw={rw}", f"--size={size}", *extra]


def pass_cases():
    """(job name, src, attach, target key, bs, iodepth, rw, size)."""
    cases = []
    for exp in EXPORTERS:
        for attach in ("pages", "bounce"):
            if exp != "udmabuf" and attach == "pages":
                continue
            for tkey in TARGETS:
                for bs, depth, rw, size in SHAPES:
                    cases.append((f"{exp}-{attach}-{tkey}-{bs}-qd{depth}",
                                  exp, attach, tkey, bs, depth, rw, size))
    return cases


PASS = pass_cases()
# src x attach x target combinations that must fail: (name, src, target key)
REFUSED = [(f"{src}-pages-{tkey}", src, tkey)
           for src in ("heap", "drm") for tkey in TARGETS]
# hugetlb-backed udmabuf: huge pages reserved before the pass batch
HUGE = [("udmabuf_hugetlb-pages-nvme-128k-qd32", "pages", "128k", 32),
        ("udmabuf_hugetlb-bounce-nullb-4k-qd1", "bounce", "4k", 1)]
SPLIT = [("split-pages-nvme", "pages", "nvme"),
         ("split-bounce-nullb", "bounce", "nullb")]


def guest_script(d):
    """The whole matrix as one guest shell script; results land in d."""
    q = shlex.quote
    lines = ["#!/bin/sh", f"D={q(str(d))}", 'cd "$D" || exit 1',
             f"export LD_LIBRARY_PATH={q(str(BUILD))}",
             "batch() {",
             '\tb=$1; shift; t0=$(cut -d" " -f1 /proc/uptime)',
             '\tfio --output-format=json --output="$D/$b.json" "$@" '
             '2>"$D/$b.err"',
             '\techo $? >"$D/$b.rc"',
             '\techo "$b $t0 $(cut -d" " -f1 /proc/uptime)" >>"$D/times"',
             "}"]

    def batch(name, jobs):
        args = COMMON + [f"--dmabuf_report={d}/{name}.jsonl"]
        args += [a for j in jobs for a in j]
        lines.append(f"batch {name} " + " ".join(q(a) for a in args))

    # 1. every passing combination, plus hugetlb-backed udmabuf
    lines.append("echo 16 >/proc/sys/vm/nr_hugepages")
    jobs = [job(n, EXPORTERS[e][0], a, TARGETS[t], bs, qd, rw, size,
                VERIFY) for n, e, a, t, bs, qd, rw, size in PASS]
    jobs += [job(n, "udmabuf:hugetlb", a, TARGETS[n.split("-")[2]], bs, qd,
                 "randwrite", "2m", VERIFY) for n, a, bs, qd in HUGE]
    batch("pass", jobs)
    lines.append("cat /proc/sys/vm/nr_hugepages >\"$D/hugepages\"")

    # 2. refused combinations and bad sources, each its own message
    jobs = [job(n, src, "pages", TARGETS[t], "4k", 1, extra=VERIFY)
            for n, src, t in REFUSED]
    jobs.append(job("drm-nonexistent", "drm:/nonexistent", "bounce",
                    TARGETS["nvme"], "4k", 1))
    jobs.append(job("heap-nonexistent", "heap:nonexistent", "bounce",
                    TARGETS["nvme"], "4k", 1))
    jobs.append(job("udmabuf-kernel", "udmabuf", "kernel", TARGETS["nvme"],
                    "4k", 1))
    batch("errors", jobs)

    # 3. no /dev/udmabuf, no /dev/dri
    lines += ["mv /dev/udmabuf /dev/udmabuf.off", "mv /dev/dri /dev/dri.off"]
    batch("hidden", [job("udmabuf-missing", "udmabuf", "bounce",
                         TARGETS["nvme"], "4k", 1),
                     job("drm-no-device", "drm", "bounce", TARGETS["nvme"],
                         "4k", 1)])
    lines += ["mv /dev/udmabuf.off /dev/udmabuf", "mv /dev/dri.off /dev/dri"]

    # 4. udmabuf's size limit at 1 MiB: automatic split, explicit excess
    lines.append(f"echo 1 >{LIMIT}")
    jobs = [job(n, "udmabuf", a, TARGETS[t], "128k", 32, "randwrite", "4m",
                VERIFY) for n, a, t in SPLIT]
    jobs.append(job("over-limit", "udmabuf", "pages", TARGETS["nvme"],
                    "128k", 32, extra=["--dmabuf_size_max=2m"]))
    batch("limit", jobs)
    lines.append(f"echo {RIG_LIMIT_MB} >{LIMIT}")
    return "\n".join(lines) + "\n"


class Batch:
    def __init__(self, d, name):
        self.name = name
        rc = d / f"{name}.rc"
        assert rc.exists(), f"batch {name} did not run"
        self.rc = int(rc.read_text())
        self.stderr = (d / f"{name}.err").read_text()
        out = d / f"{name}.json"
        text = out.read_text() if out.exists() else ""
        # fio may print notes before the JSON object
        self.jobs = ({j["jobname"]: j for j in
                      json.loads(text[text.index("{"):])["jobs"]}
                     if "{" in text else {})
        rep = d / f"{name}.jsonl"
        self.reports = ({r["job"]: r for r in read_reports(rep)}
                        if rep.exists() else {})

    def job(self, name):
        assert name in self.jobs, (
            f"{self.name}: no fio result for job {name} (rc {self.rc}); "
            f"stderr:\n{self.stderr[-3000:]}")
        assert name in self.reports, (
            f"{self.name}: no engine report for job {name}; "
            f"stderr:\n{self.stderr[-3000:]}")
        return self.jobs[name], self.reports[name]


@pytest.fixture(scope="module")
def guest(rig, tmp_path_factory):
    """Boot once, run every batch; returns {batch name: Batch}."""
    if not (BUILD / "fio-dmabuf_uring.so").exists():
        pytest.skip(f"engine not built: {BUILD}/fio-dmabuf_uring.so missing")
    d = tmp_path_factory.mktemp("exporters")
    script = d / "run.sh"
    script.write_text(guest_script(d))
    t0 = time.monotonic()
    rc, out = rig.run(["/bin/sh", str(script)], rw=[str(d)], timeout=900,
                      stream=False)
    wall = time.monotonic() - t0
    times = (d / "times").read_text() if (d / "times").exists() else ""
    print(f"\nexporters: one boot, {wall:.1f} s wall; guest batch times "
          f"(name start end, guest uptime s):\n{times}")
    assert rc == 0, f"guest script failed (rc {rc}):\n{out[-4000:]}"
    return {n: Batch(d, n) for n in ("pass", "errors", "hidden", "limit")}


def check_pass(b, name, src, attach, target, bs, depth, exp_name,
               placement, nr_buffers=1):
    fj, rep = b.job(name)
    assert fj["error"] == 0, f"{name}: fio error {fj['error']}:\n{b.stderr}"
    assert rep["errors"] == [], rep["errors"]
    # writes, then every block read back and checked (verify=crc32c)
    assert fj["write"]["io_bytes"] > 0 and fj["read"]["io_bytes"] > 0
    assert fj["read"]["io_bytes"] == fj["write"]["io_bytes"]
    assert rep["source"] == src
    assert rep["attach"] == attach
    assert rep["exporter"] == exp_name
    assert rep["cpu_view"] == "mmap"
    assert rep["placement"] == placement
    assert rep["target"] == target
    assert len(rep["buffers"]) == nr_buffers or (
        nr_buffers == "several" and len(rep["buffers"]) > 1), rep["buffers"]
    assert sum(rep["buffers"]) >= depth * bs
    assert rep["first_io_ns"][0] > 0, rep["first_io_ns"]
    if attach == "bounce":
        assert rep["bounce_bytes"] == (fj["write"]["io_bytes"] +
                                       fj["read"]["io_bytes"])
    else:
        assert rep["bounce_bytes"] == 0
    return rep


def test_pass_batch_exit_status(guest):
    b = guest["pass"]
    failed = [n for n, j in b.jobs.items() if j["error"]]
    assert b.rc == 0 and not failed, (
        f"fio rc {b.rc}, failed jobs {failed}:\n{b.stderr[-4000:]}")
    assert len(b.jobs) == len(PASS) + len(HUGE)


@pytest.mark.parametrize("name,exp,attach,tkey,bs,depth,rw,size", PASS,
                         ids=[c[0] for c in PASS])
def test_verify(guest, name, exp, attach, tkey, bs, depth, rw, size):
    src, exp_name, placement = EXPORTERS[exp]
    check_pass(guest["pass"], name, src, attach, TARGETS[tkey],
               int(bs[:-1]) << 10, depth, exp_name, placement)


@pytest.mark.parametrize("name,attach,bs,depth", HUGE,
                         ids=[c[0] for c in HUGE])
def test_verify_hugetlb(guest, name, attach, bs, depth):
    check_pass(guest["pass"], name, "udmabuf:hugetlb", attach,
               TARGETS[name.split("-")[2]], int(bs[:-1]) << 10, depth,
               "udmabuf", "system RAM (hugetlb memfd)")


def error_of(b, name):
    fj, rep = b.job(name)
    assert fj["error"] != 0, f"{name} did not fail"
    assert len(rep["errors"]) == 1, rep["errors"]
    msg = rep["errors"][0]
    assert f"fio: dmabuf_uring: {msg}\n" in b.stderr
    return fj, msg


def test_errors_batch_exit_status(guest):
    b = guest["errors"]
    assert b.rc == len(REFUSED) + 3, b.stderr


@pytest.mark.parametrize("name,src,tkey", REFUSED, ids=[c[0] for c in REFUSED])
def test_pages_refused(guest, name, src, tkey):
    fj, msg = error_of(guest["errors"], name)
    assert fj["error"] == 14        # EFAULT
    assert msg == PAGES_REFUSED.format(src=src)


def test_drm_nonexistent_path(guest):
    fj, msg = error_of(guest["errors"], "drm-nonexistent")
    assert msg == NO_DRM_PATH


def test_heap_nonexistent_lists_heaps(guest):
    fj, msg = error_of(guest["errors"], "heap-nonexistent")
    assert msg == NO_HEAP


def test_kernel_attach_on_stock_kernel(guest):
    # The stock 6.12 kernel lacks the io_uring dma-buf series.
    fj, msg = error_of(guest["errors"], "udmabuf-kernel")
    assert "dmabuf_attach=kernel" in msg


def test_hidden_devices(guest):
    b = guest["hidden"]
    assert b.rc == 2, b.stderr
    fj, msg = error_of(b, "udmabuf-missing")
    assert fj["error"] == 2 and msg == NO_UDMABUF
    fj, msg = error_of(b, "drm-no-device")
    assert fj["error"] == 19 and msg == NO_DRM_DIR


def test_udmabuf_size_limit(guest):
    b = guest["limit"]
    assert b.rc == 1, b.stderr
    fj, msg = error_of(b, "over-limit")
    assert fj["error"] == 22 and msg == OVER_LIMIT


@pytest.mark.parametrize("name,attach,tkey", SPLIT, ids=[c[0] for c in SPLIT])
def test_udmabuf_split_below_limit(guest, name, attach, tkey):
    # 32 x 128 KiB of buffers in slots of at most size_limit_mb=1
    rep = check_pass(guest["limit"], name, "udmabuf", attach, TARGETS[tkey],
                     128 << 10, 32, "udmabuf", "system RAM (memfd)",
                     nr_buffers="several")
    assert max(rep["buffers"]) <= 1 << 20
