# SPDX-License-Identifier: GPL-2.0-only
"""The bad-input table, vm tier: refusals that need the QEMU rig's real
/dev/udmabuf, /dev/dma_heap/system, vgem's /dev/dri/card0, /dev/nvme0n1,
/dev/nullb0, its stock kernel (no io_uring dma-buf series) or an
unprivileged user.  The host cases are in tests/host/test_bad_input.py; this
file asserts the same of each case:

- its exact one-line engine message on stderr, fio's exit status 1, no
  crash (status not above 128, no "core dumped");
- no leftover files in the case's folder (only the target file it made and
  the report) and no fio left running (pgrep -f on the job's unique name);
- the report line: "result": "failed", the message in "errors".

One boot runs every case: a guest shell script (as root) runs each fio in
its own folder under the guest's /tmp and leaves OUT/<case>.{err,rc,report,
ls,ps} in a folder shared with the host.  Unprivileged cases run fio through
util-linux setpriv (the rig chroots into the host's root, so the host's
setpriv is there) as nobody (65534), which drops every capability.
"""
import shlex

import pytest

from dbu_test import BUILD, read_reports

pytestmark = pytest.mark.vm

PREFIX = "fio: dmabuf_uring: "
NOBODY = "setpriv --reuid=65534 --regid=65534 --clear-groups"
LIMIT = "/sys/module/udmabuf/parameters/size_limit_mb"
RIG_LIMIT_MB = 512      # udmabuf.size_limit_mb= on the rig's command line

NOT_MULTIPLE = (
    "direct=1 on a block device: Invalid argument (EINVAL). block sizes "
    "{lo}..{hi} are not multiples of {dev}'s logical block size {lbs}: the "
    "kernel fails such O_DIRECT requests with EINVAL. Use bs (and "
    "bsrange/bssplit) in multiples of {lbs}.")
ABSENT = (
    "dmabuf_attach=kernel: Invalid argument (EINVAL). the kernel lacks the "
    "io_uring dma-buf registration series (series absent: uapi_probe=absent; "
    "kernel {release} answers EINVAL to IORING_REGISTER_BUFFERS_UPDATE with "
    "IORING_RSRC_UPDATE_EXTENDED, a flag it does not know). "
    "dmabuf_attach=kernel needs a kernel carrying Pavel Begunkov's \"Add "
    "dmabuf read/write via io_uring\" (v3 or later). Try dmabuf_attach=pages "
    "(dmabuf_src=udmabuf or host) or dmabuf_attach=bounce.")

# (id, user, shell before, fio arguments, shell after, expected message).
# Common arguments: --name=<unique> --ioengine=dmabuf_uring --rw=read
# --bs=4k --size=1m --filename=$W/target.img (a 32 MiB file the nobody user
# may write; left out where the case names its own, since a second filename
# would be a second file) --dmabuf_report=$W/report.jsonl; later ones win.
# "nobody" runs fio under setpriv as 65534 with prlimit --memlock=65536.
CASES = [
    # -- missing devices and nodes
    ("udmabuf_missing", "root", "mv /dev/udmabuf /dev/udmabuf.off",
     ["--dmabuf_src=udmabuf", "--dmabuf_attach=bounce"],
     "mv /dev/udmabuf.off /dev/udmabuf",
     "opening /dev/udmabuf: No such file or directory (ENOENT). /dev/udmabuf "
     "does not exist: the udmabuf module is not loaded or the kernel was "
     "built without CONFIG_UDMABUF. Try 'modprobe udmabuf', a kernel with "
     "CONFIG_UDMABUF, or dmabuf_src=heap or host."),
    ("heap_nonexistent", "root", "",
     ["--dmabuf_src=heap:nonexistent", "--dmabuf_attach=bounce"], "",
     "opening a DMA heap: No such file or directory (ENOENT). there is no "
     "heap 'nonexistent' (/dev/dma_heap/nonexistent); the heaps present in "
     "/dev/dma_heap are: system. Try dmabuf_src=heap:NAME with one of them."),
    ("heap_dir_missing", "root", "mv /dev/dma_heap /dev/dma_heap.off",
     ["--dmabuf_src=heap", "--dmabuf_attach=bounce"],
     "mv /dev/dma_heap.off /dev/dma_heap",
     "opening a DMA heap: No such file or directory (ENOENT). /dev/dma_heap "
     "does not exist: the kernel was built without CONFIG_DMABUF_HEAPS (and "
     "CONFIG_DMABUF_HEAPS_SYSTEM for the system heap). Try such a kernel, or "
     "dmabuf_src=udmabuf or host."),
    ("drm_no_device", "root", "mv /dev/dri /dev/dri.off",
     ["--dmabuf_src=drm", "--dmabuf_attach=bounce"], "mv /dev/dri.off /dev/dri",
     "finding a DRM device: No such device (ENODEV). no DRM device node in "
     "/dev/dri (it does not exist). Try loading a DRM driver ('modprobe "
     "vgem' gives a virtual one), or dmabuf_src=drm:PATH."),
    ("drm_path_missing", "root", "",
     ["--dmabuf_src=drm:/dev/dri/card9", "--dmabuf_attach=bounce"], "",
     "opening the DRM device: No such file or directory (ENOENT). "
     "/dev/dri/card9: no such device node. Try dmabuf_src=drm to pick the "
     "first suitable device in /dev/dri, or load a DRM driver ('modprobe "
     "vgem')."),
    # -- permission denied: the nodes are root's 0600 (no udev in the rig)
    ("udmabuf_eacces", "nobody", "",
     ["--dmabuf_src=udmabuf", "--dmabuf_attach=bounce"], "",
     "opening /dev/udmabuf: Permission denied (EACCES). no permission to open "
     "/dev/udmabuf read-write. Try running as root, 'chmod 0666 /dev/udmabuf' "
     "or a udev rule granting your group access."),
    ("heap_eacces", "nobody", "",
     ["--dmabuf_src=heap", "--dmabuf_attach=bounce"], "",
     "opening a DMA heap: Permission denied (EACCES). no permission to open "
     "/dev/dma_heap/system. Try running as root, 'chmod 0666 "
     "/dev/dma_heap/system' or a udev rule granting your group access."),
    ("drm_path_eacces", "nobody", "",
     ["--dmabuf_src=drm:/dev/dri/card0", "--dmabuf_attach=bounce"], "",
     "opening the DRM device: Permission denied (EACCES). /dev/dri/card0: no "
     "permission to open it read-write. Try running as root, joining the "
     "group that owns it (video or render), 'chmod 0666 /dev/dri/card0' or "
     "a udev rule granting your group access."),
    ("drm_auto_eacces", "nobody", "",
     ["--dmabuf_src=drm", "--dmabuf_attach=bounce"], "",
     "finding a DRM device: Permission denied (EACCES). no permission to open "
     "any DRM node in /dev/dri (card0, renderD128). Try running as root, "
     "joining the group that owns them (video or render), or a udev rule "
     "granting your group access."),
    ("memlock_nobody", "nobody", "",
     ["--dmabuf_src=host", "--dmabuf_attach=pages", "--bs=64k",
      "--iodepth=32"], "",
     "registering fixed buffers: Cannot allocate memory (ENOMEM). "
     "RLIMIT_MEMLOCK is too low: 2097152 bytes must be locked, the soft limit "
     "is 65536 and the hard limit 65536 bytes (without CAP_IPC_LOCK io_uring "
     "charges fixed buffers to it). Try 'ulimit -l unlimited' (or a limit of "
     "at least 2048 KiB), or run with CAP_IPC_LOCK."),
    # -- sizes over the exporter's and the kernel's limits
    ("udmabuf_size_max_over_limit", "root", f"echo 1 >{LIMIT}",
     ["--dmabuf_src=udmabuf", "--dmabuf_attach=pages",
      "--dmabuf_size_max=2m"], f"echo {RIG_LIMIT_MB} >{LIMIT}",
     "dmabuf_size_max: Invalid argument (EINVAL). dmabuf_size_max=2097152 is "
     "larger than udmabuf's size_limit_mb=1 (1048576 bytes). Try "
     "dmabuf_size_max=1048576 or less, or raise the limit: 'echo N > "
     f"{LIMIT}' or boot with udmabuf.size_limit_mb=N (N in MiB)."),
    ("udmabuf_bs_over_limit", "root", f"echo 1 >{LIMIT}",
     ["--dmabuf_src=udmabuf", "--dmabuf_attach=pages", "--bs=2m",
      "--size=4m"], f"echo {RIG_LIMIT_MB} >{LIMIT}",
     "bs: Invalid argument (EINVAL). bs=2097152 is larger "
     "than udmabuf's size_limit_mb=1 (1048576 bytes): one block must fit in "
     "one dma-buf. Try bs=1048576 or less, or raise the limit: 'echo N > "
     f"{LIMIT}' or boot with udmabuf.size_limit_mb=N (N in MiB)."),
    ("udmabuf_hugetlb_none", "root", "echo 0 >/proc/sys/vm/nr_hugepages",
     ["--dmabuf_src=udmabuf:hugetlb", "--dmabuf_attach=pages"], "",
     "UDMABUF_CREATE: Cannot allocate memory (ENOMEM). 2097152 bytes of huge "
     "pages (2048 KiB each) are needed; HugePages_Free is 0 of "
     "HugePages_Total 0. Try 'echo N > /proc/sys/vm/nr_hugepages' (N >= 1) "
     "or boot with hugepages=N, or dmabuf_src=udmabuf."),
    # -- O_DIRECT lengths on block devices, every attach mode
    ("bs4100_nullb_pages", "root", "",
     ["--dmabuf_src=host", "--dmabuf_attach=pages", "--direct=1",
      "--bs=4100", "--filename=/dev/nullb0"], "",
     NOT_MULTIPLE.format(lo=4100, hi=4100, dev="/dev/nullb0", lbs=512)),
    ("bs4100_nvme_bounce", "root", "",
     ["--dmabuf_src=udmabuf", "--dmabuf_attach=bounce", "--direct=1",
      "--bs=4100", "--filename=/dev/nvme0n1"], "",
     NOT_MULTIPLE.format(lo=4100, hi=4100, dev="/dev/nvme0n1", lbs=512)),
    # the kernel attach probes the series at init, before the target is
    # opened: on the rig's stock kernel "absent" comes first
    ("bs4100_nvme_kernel", "root", "",
     ["--dmabuf_src=udmabuf", "--dmabuf_attach=kernel", "--direct=1",
      "--bs=4100", "--filename=/dev/nvme0n1"], "", ABSENT),
    ("bsrange_nvme_pages", "root", "",
     ["--dmabuf_src=udmabuf", "--dmabuf_attach=pages", "--direct=1",
      "--bsrange=4k-6500", "--filename=/dev/nvme0n1"], "",
     NOT_MULTIPLE.format(lo=4096, hi=6500, dev="/dev/nvme0n1", lbs=512)),
    # -- the kernel attach on a kernel without the series
    ("kernel_absent_nvme", "root", "",
     ["--dmabuf_src=udmabuf", "--dmabuf_attach=kernel", "--direct=1",
      "--filename=/dev/nvme0n1"], "", ABSENT),
    ("kernel_absent_nullb", "root", "",
     ["--dmabuf_src=heap", "--dmabuf_attach=kernel", "--direct=1",
      "--filename=/dev/nullb0"], "", ABSENT),
    # -- a block device the user may not open
    ("target_eacces", "nobody", "",
     ["--dmabuf_src=host", "--dmabuf_attach=bounce",
      "--filename=/dev/nullb0"], "",
     # fio sizes the device before the engine's init: fio's own lines
     "fio: failed opening blockdev /dev/nullb0 for size check"),
]


def guest_script(d):
    q = shlex.quote
    lines = ["#!/bin/sh", f"D={q(str(d))}",
             f"export LD_LIBRARY_PATH={q(str(BUILD))}",
             'uname -r >"$D/uname"',
             "command -v setpriv >\"$D/setpriv\"",
             "ls /dev/dri >\"$D/dri\""]
    for cid, user, before, args, after, _ in CASES:
        name = f"dbu-badvm-{cid}"
        w = f"/tmp/bad/{cid}"
        run = NOBODY + " prlimit --memlock=65536 " if user == "nobody" else ""
        # a second --filename adds a second file to the job: one only
        target = [] if any(a.startswith("--filename=") for a in args) \
            else [f"--filename={w}/target.img"]
        cmd = ["fio", f"--name={name}", "--ioengine=dmabuf_uring",
               "--rw=read", "--bs=4k", "--size=1m", *target,
               f"--dmabuf_report={w}/report.jsonl", *args]
        o = f'"$D/{cid}'
        lines += [f"# {cid}", f"mkdir -p {w} && chmod 1777 {w}",
                  f"truncate -s 32m {w}/target.img && chmod 666 {w}/target.img",
                  before,
                  f"(cd {w} && ulimit -c 0 && {run}"
                  + " ".join(q(a) for a in cmd)
                  + f') >{o}.out" 2>{o}.err"',
                  f'echo $? >{o}.rc"', after,
                  f'ls -A {w} >{o}.ls"',
                  f'pgrep -f {q(name)} >{o}.ps"',
                  f'cp {w}/report.jsonl {o}.report" 2>/dev/null']
    lines.append("exit 0")
    return "\n".join(ln for ln in lines if ln) + "\n"


@pytest.fixture(scope="module")
def guest(rig, tmp_path_factory):
    if not (BUILD / "fio-dmabuf_uring.so").exists():
        pytest.skip(f"engine not built: {BUILD}/fio-dmabuf_uring.so missing")
    d = tmp_path_factory.mktemp("badinput")
    (d / "run.sh").write_text(guest_script(d))
    rc, out = rig.run(["/bin/sh", str(d / "run.sh")], rw=[str(d)],
                      timeout=900, stream=False)
    assert rc == 0, f"guest script failed (rc {rc}):\n{out[-4000:]}"
    assert (d / "setpriv").read_text().strip(), "no setpriv in the guest"
    return d


@pytest.mark.parametrize("cid,msg", [(c[0], c[5]) for c in CASES],
                         ids=[c[0] for c in CASES])
def test_refused_vm(guest, cid, msg):
    d = guest
    err = (d / f"{cid}.err").read_text()
    out = (d / f"{cid}.out").read_text() + err
    rc = int((d / f"{cid}.rc").read_text())
    msg = msg.format(release=(d / "uname").read_text().strip())
    assert rc == 1, f"exit {rc}:\n{out}"
    assert "core dumped" not in out, out
    lines = [ln for ln in err.splitlines() if ln.startswith(PREFIX)]
    left = set((d / f"{cid}.ls").read_text().split())
    assert left <= {"target.img", "report.jsonl"}, left
    assert not (d / f"{cid}.ps").read_text().strip(), "fio still running"
    if msg.startswith("fio: "):     # refused by fio, the engine never ran
        assert msg in err.splitlines() and not lines, err
        assert not (d / f"{cid}.report").exists()
        return
    assert lines == [PREFIX + msg], err
    row, = read_reports(d / f"{cid}.report")
    assert row["job"] == f"dbu-badvm-{cid}" and row["result"] == "failed", row
    assert msg in row["errors"], row["errors"]
