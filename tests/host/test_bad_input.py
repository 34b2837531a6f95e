# SPDX-License-Identifier: GPL-2.0-only
"""The bad-input table, host tier: every input dmabuf_uring refuses, with the
one line it says.  This file is documentation as much as a test: find your
error message in CASES to see what causes it.

Each case runs the real fio (build/ or DBU_BUILD_DIR) in its own temporary
folder and asserts

- its exact one-line message on stderr: "fio: dmabuf_uring: <what>:
  <strerror> (<ERRNAME>). <cause, what to try>."  (or fio's own line, where
  fio refuses the input before the engine runs);
- fio's exit status 1, and no crash (no negative status, no "core dumped");
- no leftover files (the folder holds only what the test made, and the
  report) and no fio left running (pgrep -f on the job's unique name);
- the report line (dmabuf_report, JSON Lines): "result": "failed", and its
  errors list holds the message without the "fio: dmabuf_uring: " prefix.

Cases that need real /dev/udmabuf, DMA heaps, DRM nodes, block devices or an
unprivileged user are in tests/vm/test_bad_input_vm.py (the QEMU rig).
"""
import os
import resource
import subprocess
import uuid

import pytest

from dbu_test import fio_env, read_reports

pytestmark = [pytest.mark.host]

PREFIX = "fio: dmabuf_uring: "
SRC_VALID = ("udmabuf[:hugetlb], heap[:NAME], drm[:PATH], "
             "amdgpu[:PATH][:vram|gtt], cuda[:ORDINAL][:vmm], vfio:BDF[:BAR], "
             "p2pmem:BDF, host")
PAGES_REFUSED = (
    "dmabuf_attach=pages: Bad address (EFAULT). dmabuf_src={src} has no CPU "
    "pages io_uring can pin: its dma-buf mapping is VM_PFNMAP and registering "
    "it fails with EFAULT. Try dmabuf_attach=bounce, or dmabuf_attach=kernel "
    "on a kernel with the io_uring dma-buf series.")
NOT_A_TARGET = (
    "opening the target: Block device required (ENOTBLK). {path} is neither "
    "a regular file nor a block device. Try filename=/dev/nvmeXnY (or a file "
    "for the host tier).")
TRIM = (
    "rw=trim: Operation not supported (EOPNOTSUPP). dmabuf_uring issues "
    "READ_FIXED and WRITE_FIXED only; a trim moves no buffer memory. Use "
    "ioengine=io_uring for trims, or rw=read/write/randrw.")
HOST_PAGES = ["--dmabuf_src=host", "--dmabuf_attach=pages"]


def negative(opt, val, meaning):
    return (f"{opt}: Invalid argument (EINVAL). {opt}={val} is negative: it "
            f"counts {meaning}. Give 0 or more.")


# (id, fio arguments after the common ones, expected message).  {target} is
# a 32 MiB file and {tmp} the case's folder; the common arguments are
# --name=<unique> --ioengine=dmabuf_uring --filename={target} --rw=read
# --bs=4k --size=1m --dmabuf_report={tmp}/report.jsonl; later ones win.
CASES = [
    # -- option values and ranges (config.c)
    ("eagain_max_negative", [*HOST_PAGES, "--dmabuf_eagain_max=-1"],
     negative("dmabuf_eagain_max", -1, "reissues per request (0: none)")),
    ("watchdog_negative", [*HOST_PAGES, "--dmabuf_watchdog=-5"],
     negative("dmabuf_watchdog", -5,
              "seconds without a completion (0: never)")),
    ("force_async_negative", [*HOST_PAGES, "--force_async=-1"],
     negative("force_async", -1, "requests between IOSQE_ASYNC ones (0: off)")),
    ("inject_eagain_negative", [*HOST_PAGES, "--dmabuf_inject_eagain=-2"],
     negative("dmabuf_inject_eagain", -2,
              "completions between injected -EAGAINs (0: off)")),
    ("inject_short_negative", [*HOST_PAGES, "--dmabuf_inject_short=-3"],
     negative("dmabuf_inject_short", -3,
              "completions between injected short ones (0: off)")),
    ("size_max_negative", [*HOST_PAGES, "--dmabuf_size_max=-1"],
     "dmabuf_size_max: Invalid argument (EINVAL). dmabuf_size_max=-1 is "
     "negative: it is the size of the largest dma-buf (0: automatic). Give "
     "0 or more."),
    ("sqpoll_cpu_negative", [*HOST_PAGES, "--sqthread_poll",
                             "--sqthread_poll_cpu=-1"],
     "sqthread_poll_cpu: Invalid argument (EINVAL). sqthread_poll_cpu=-1 is "
     "not a CPU. Give the number of one (0 or more)."),
    ("size_max_below_one_block", [*HOST_PAGES, "--dmabuf_size_max=1k"],
     "dmabuf_size_max: Invalid argument (EINVAL). a buffer of 1024 bytes "
     "cannot hold one block of 4096 bytes aligned to the page size. Try a "
     "larger dmabuf_size_max or a smaller bs."),
    ("too_many_slots", [*HOST_PAGES, "--dmabuf_size_max=4k",
                        "--iodepth=20000"],
     "splitting the buffer area: Argument list too long (E2BIG). 81920000 "
     "bytes in slots of 4096 would need more than 16384 registered buffers. "
     "Try a larger dmabuf_size_max or a smaller iodepth."),
    ("buffer_straddles_slots", [*HOST_PAGES, "--dmabuf_size_max=8k",
                                "--mem_align=2048", "--iodepth=4"],
     "laying out io buffers: Invalid argument (EINVAL). io_u 1's buffer "
     "(offset 6144, 4096 bytes) does not fit in one dma-buf of 8192 bytes. "
     "Try mem_align=0 or a dmabuf_size_max that is a multiple of bs."),
    # -- dmabuf_src: unknown, malformed, not in this build
    ("src_unknown", ["--dmabuf_src=foo"],
     f"dmabuf_src: Invalid argument (EINVAL). unknown dmabuf_src 'foo'. "
     f"Valid values: {SRC_VALID}."),
    ("src_case_matters", ["--dmabuf_src=HOST", "--dmabuf_attach=pages"],
     f"dmabuf_src: Invalid argument (EINVAL). unknown dmabuf_src 'HOST'. "
     f"Valid values: {SRC_VALID}."),
    ("src_leading_colon", ["--dmabuf_src=:host", "--dmabuf_attach=pages"],
     f"dmabuf_src: Invalid argument (EINVAL). unknown dmabuf_src ':host'. "
     f"Valid values: {SRC_VALID}."),
    ("host_with_argument", ["--dmabuf_src=host:x", "--dmabuf_attach=pages"],
     "dmabuf_src: Invalid argument (EINVAL). dmabuf_src=host takes no "
     "argument (got 'x')."),
    ("udmabuf_bad_argument", ["--dmabuf_src=udmabuf:foo",
                              "--dmabuf_attach=pages"],
     "dmabuf_src: Invalid argument (EINVAL). dmabuf_src=udmabuf takes no "
     "argument or ':hugetlb' (got 'foo'). Try dmabuf_src=udmabuf or "
     "dmabuf_src=udmabuf:hugetlb."),
    ("heap_name_with_slash", ["--dmabuf_src=heap:a/b",
                              "--dmabuf_attach=bounce"],
     "dmabuf_src: Invalid argument (EINVAL). 'a/b' is not a DMA heap name. "
     "Try dmabuf_src=heap or dmabuf_src=heap:NAME with NAME a file in "
     "/dev/dma_heap."),
    ("heap_empty_name", ["--dmabuf_src=heap:", "--dmabuf_attach=bounce"],
     "dmabuf_src: Invalid argument (EINVAL). '' is not a DMA heap name. Try "
     "dmabuf_src=heap or dmabuf_src=heap:NAME with NAME a file in "
     "/dev/dma_heap."),
    ("vfio_no_device", ["--dmabuf_src=vfio", "--dmabuf_attach=bounce"],
     "dmabuf_src: Invalid argument (EINVAL). dmabuf_src=vfio: expected "
     "vfio:BDF[:BAR], e.g. vfio:0000:00:04.0 or vfio:00:04.0:2 (BAR 0-5)."),
    ("vfio_short_address", ["--dmabuf_src=vfio:04.0",
                            "--dmabuf_attach=bounce"],
     "dmabuf_src: Invalid argument (EINVAL). dmabuf_src=vfio:04.0: expected "
     "vfio:BDF[:BAR], e.g. vfio:0000:00:04.0 or vfio:00:04.0:2 (BAR 0-5)."),
    ("vfio_bar_6", ["--dmabuf_src=vfio:0000:00:04.0:6",
                    "--dmabuf_attach=bounce"],
     "dmabuf_src: Invalid argument (EINVAL). dmabuf_src=vfio:0000:00:04.0:6: "
     "expected vfio:BDF[:BAR], e.g. vfio:0000:00:04.0 or vfio:00:04.0:2 "
     "(BAR 0-5)."),
    ("vfio_absent_device", ["--dmabuf_src=vfio:ffff:ff:1f.7",
                            "--dmabuf_attach=bounce"],
     "dmabuf_src=vfio: No such device (ENODEV). there is no PCI device "
     "ffff:ff:1f.7 (/sys/bus/pci/devices/ffff:ff:1f.7 is missing). 'lspci "
     "-D' lists the devices."),
    ("p2pmem_with_bar", ["--dmabuf_src=p2pmem:00:04.0:2",
                         "--dmabuf_attach=pages"],
     "dmabuf_src: Invalid argument (EINVAL). dmabuf_src=p2pmem:00:04.0:2: "
     "expected p2pmem:BDF, e.g. p2pmem:0000:00:03.0."),
    ("p2pmem_runner_default", ["--dmabuf_src=p2pmem:none",
                               "--dmabuf_attach=pages"],
     "dmabuf_src: Invalid argument (EINVAL). dmabuf_src=p2pmem:none: "
     "expected p2pmem:BDF, e.g. p2pmem:0000:00:03.0."),
    ("p2pmem_absent_device", ["--dmabuf_src=p2pmem:ffff:ff:1f.7",
                              "--dmabuf_attach=pages"],
     "dmabuf_src=p2pmem: No such device (ENODEV). there is no PCI device "
     "ffff:ff:1f.7 (/sys/bus/pci/devices/ffff:ff:1f.7 is missing). 'lspci "
     "-D' lists the devices."),
    ("drm_empty_path", ["--dmabuf_src=drm:", "--dmabuf_attach=bounce"],
     "dmabuf_src: Invalid argument (EINVAL). dmabuf_src=drm: takes a device "
     "path after ':'. Try dmabuf_src=drm or dmabuf_src=drm:/dev/dri/card0."),
    ("drm_path_missing", ["--dmabuf_src=drm:/nonexistent",
                          "--dmabuf_attach=bounce"],
     "opening the DRM device: No such file or directory (ENOENT). "
     "/nonexistent: no such device node. Try dmabuf_src=drm to pick the "
     "first suitable device in /dev/dri, or load a DRM driver ('modprobe "
     "vgem')."),
    ("amdgpu_none", ["--dmabuf_src=amdgpu", "--dmabuf_attach=bounce"],
     "finding an amdgpu device: No such device (ENODEV). no DRM node in "
     "/dev/dri that this user can open is driven by amdgpu (none found). Load "
     "amdgpu (the kernel's own, not amdgpu-dkms), check the render group, or "
     "give dmabuf_src=amdgpu:PATH."),
    ("amdgpu_path_missing",
     ["--dmabuf_src=amdgpu:/dev/dri/renderD128:vram", "--dmabuf_attach=bounce"],
     "opening the amdgpu device: No such file or directory (ENOENT). "
     "/dev/dri/renderD128: no such device node. Try dmabuf_src=amdgpu to pick "
     "the first amdgpu render node."),
    ("amdgpu_not_amdgpu", ["--dmabuf_src=amdgpu:/dev/null:gtt",
                           "--dmabuf_attach=bounce"],
     "opening the amdgpu device: No such device (ENODEV). /dev/null is driven "
     "by unknown, not amdgpu. Try dmabuf_src=drm:/dev/null for a dumb buffer "
     "on it."),
    ("amdgpu_domain_unknown", ["--dmabuf_src=amdgpu:/dev/dri/card0:lds",
                               "--dmabuf_attach=bounce"],
     "dmabuf_src: Invalid argument (EINVAL). dmabuf_src=amdgpu:/dev/dri/"
     "card0:lds: the domain is vram or gtt (got 'lds'). Try dmabuf_src=amdgpu:"
     "/dev/dri/renderD128:vram."),
    ("amdgpu_empty_arg", ["--dmabuf_src=amdgpu:", "--dmabuf_attach=bounce"],
     "dmabuf_src: Invalid argument (EINVAL). dmabuf_src=amdgpu: takes "
     "[PATH][:vram|gtt] after ':'. Try dmabuf_src=amdgpu or "
     "dmabuf_src=amdgpu::gtt."),
    # -- dmabuf_cpu_view
    ("cpu_view_unknown", [*HOST_PAGES, "--dmabuf_cpu_view=copy"],
     "dmabuf_cpu_view: Invalid argument (EINVAL). unknown dmabuf_cpu_view "
     "'copy'. Valid values: auto, mmap, shadow."),
    ("cpu_view_shadow_host", ["--dmabuf_src=host", "--dmabuf_attach=bounce",
                              "--dmabuf_cpu_view=shadow"],
     "dmabuf_cpu_view=shadow: Invalid argument (EINVAL). dmabuf_src=host is "
     "host memory already; a shadow copy of it checks nothing. Use "
     "dmabuf_cpu_view=auto."),
    ("cpu_view_shadow_pages", ["--dmabuf_src=udmabuf", "--dmabuf_attach=pages",
                               "--dmabuf_cpu_view=shadow"],
     "dmabuf_cpu_view=shadow with dmabuf_attach=pages: Invalid argument "
     "(EINVAL). the pages attach registers the CPU pages of the memory "
     "itself. Use dmabuf_cpu_view=mmap, or dmabuf_attach=bounce or kernel."),
    # -- dmabuf_attach and what fio's options ask
    ("attach_unknown", ["--dmabuf_src=host", "--dmabuf_attach=foo"],
     "dmabuf_attach: Invalid argument (EINVAL). unknown dmabuf_attach 'foo'. "
     "Valid values: kernel, pages, bounce."),
    ("attach_case_matters", ["--dmabuf_src=host", "--dmabuf_attach=Pages"],
     "dmabuf_attach: Invalid argument (EINVAL). unknown dmabuf_attach "
     "'Pages'. Valid values: kernel, pages, bounce."),
    ("pages_heap", ["--dmabuf_src=heap", "--dmabuf_attach=pages"],
     PAGES_REFUSED.format(src="heap")),
    ("pages_drm", ["--dmabuf_src=drm", "--dmabuf_attach=pages"],
     PAGES_REFUSED.format(src="drm")),
    ("kernel_without_direct", ["--dmabuf_src=udmabuf",
                               "--dmabuf_attach=kernel"],
     "dmabuf_attach=kernel without direct=1: Invalid argument (EINVAL). the "
     "kernel registers a dma-buf only against a target opened with O_DIRECT. "
     "Add direct=1."),
    ("kernel_with_hipri", ["--dmabuf_src=udmabuf", "--dmabuf_attach=kernel",
                           "--direct=1", "--hipri"],
     "hipri with dmabuf_attach=kernel: Invalid argument (EINVAL). the "
     "io_uring dma-buf series (v5 on) refuses dma-buf registration on a "
     "polled (IOPOLL) ring. Drop hipri."),
    ("kernel_with_host", ["--dmabuf_src=host", "--dmabuf_attach=kernel",
                          "--direct=1"],
     "dmabuf_attach=kernel: Invalid argument (EINVAL). dmabuf_src=host "
     "exports no dma-buf, so there is nothing to register through the "
     "io_uring dma-buf series. Try dmabuf_attach=pages with dmabuf_src=host, "
     "or a dma-buf source (dmabuf_src=udmabuf, heap, drm)."),
    ("rw_trim", [*HOST_PAGES, "--rw=trim"], TRIM),
    ("rw_randtrim", [*HOST_PAGES, "--rw=randtrim"], TRIM),
    ("rw_trimwrite", [*HOST_PAGES, "--rw=trimwrite"], TRIM),
    # -- targets that are neither a regular file nor a block device
    ("target_dev_null", [*HOST_PAGES, "--filename=/dev/null"],
     NOT_A_TARGET.format(path="/dev/null")),
    ("target_dev_zero", [*HOST_PAGES, "--filename=/dev/zero"],
     NOT_A_TARGET.format(path="/dev/zero")),
    # size=4k: a directory "smaller" than size=1m makes fio lay it out first
    ("target_directory", [*HOST_PAGES, "--filename={tmp}/dir", "--size=4k"],
     NOT_A_TARGET.format(path="{tmp}/dir")),
    # -- the report file
    ("report_dir_missing", [*HOST_PAGES,
                            "--dmabuf_report=/nonexistent/dir/x.json"],
     "opening the report file: No such file or directory (ENOENT). "
     "dmabuf_report=/nonexistent/dir/x.json cannot be opened for appending. "
     "Check that its directory exists and is writable."),
]


def no_core():
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))


def run_case(tmp, args, prefix=(), env=None):
    """Run one refusal in folder tmp; returns (CompletedProcess, job name)."""
    name = f"dbu-bad-{uuid.uuid4().hex[:12]}"
    target = tmp / "target.img"
    if not target.exists():
        with open(target, "wb") as f:
            f.truncate(32 << 20)
    sub = {"target": str(target), "tmp": str(tmp)}
    cmd = [*prefix, "fio", f"--name={name}", "--ioengine=dmabuf_uring",
           f"--filename={target}", "--rw=read", "--bs=4k", "--size=1m",
           f"--dmabuf_report={tmp}/report.jsonl",
           *(a.format(**sub) for a in args)]
    r = subprocess.run(cmd, env=fio_env(env), capture_output=True, text=True,
                       timeout=120, cwd=tmp, preexec_fn=no_core)
    return r, name


def check_clean(r, name, tmp, made):
    """Exit 1, no crash, nothing left behind but the report."""
    out = r.stdout + r.stderr
    assert r.returncode == 1, f"exit {r.returncode}:\n{out}"
    assert "core dumped" not in out and "AddressSanitizer" not in out, out
    left = {p.name for p in tmp.iterdir()} - set(made) - {"report.jsonl"}
    assert not left, f"left behind in {tmp}: {sorted(left)}"
    ps = subprocess.run(["pgrep", "-f", name], capture_output=True, text=True)
    assert ps.returncode == 1, f"fio still running: {ps.stdout}"


def check_refusal(r, name, tmp, msg, made=("target.img",), report=True):
    check_clean(r, name, tmp, made)
    lines = [ln for ln in r.stderr.splitlines() if ln.startswith(PREFIX)]
    assert lines == [PREFIX + msg], r.stderr
    if report:
        row, = read_reports(tmp / "report.jsonl")
        assert row["job"] == name and row["result"] == "failed", row
        assert msg in row["errors"], row["errors"]
        assert row["ios"] == 0, row


@pytest.mark.parametrize("args,msg", [c[1:] for c in CASES],
                         ids=[c[0] for c in CASES])
def test_refused(tmp_path, args, msg):
    made = ["target.img"]
    if "--filename={tmp}/dir" in args:
        (tmp_path / "dir").mkdir()
        made.append("dir")
    msg = msg.format(tmp=tmp_path)
    report = not any(a.startswith("--dmabuf_report=/nonexistent") for a in args)
    r, name = run_case(tmp_path, args)
    check_refusal(r, name, tmp_path, msg, made, report)
    if not report:
        assert not os.path.exists("/nonexistent"), "fio made /nonexistent"


# ---------------------------------------------------------------- special

@pytest.mark.parametrize("opt", ["--mem=malloc", "--iomem=mmap"])
def test_mem_is_the_engines(tmp_path, opt):
    """mem=/iomem=: the engine allocates the buffers itself.  Its own line,
    before fio's generic "option 'mem/iomem' conflicts with specified IO
    engine"."""
    r, name = run_case(tmp_path, [*HOST_PAGES, opt])
    check_refusal(r, name, tmp_path, (
        "mem/iomem: Invalid argument (EINVAL). dmabuf_uring allocates the I/O "
        "buffers itself, from dmabuf_src=host; fio's mem=/iomem= cannot "
        "choose them. Drop mem=/iomem= (dmabuf_src=host is anonymous "
        "memory)."))
    assert "conflicts with specified IO engine" not in r.stderr


def test_fifo_target(tmp_path):
    """A FIFO: fio cannot size it and fails the job before the engine's init
    (its line is on stdout); the engine never runs, so no report."""
    os.mkfifo(tmp_path / "fifo")
    r, name = run_case(tmp_path, [*HOST_PAGES, "--filename={tmp}/fifo"])
    check_clean(r, name, tmp_path, ["target.img", "fifo"])
    assert f"{name}: failed to get file size of {tmp_path}/fifo" \
        in r.stdout.splitlines(), r.stdout
    assert not [ln for ln in r.stderr.splitlines() if ln.startswith(PREFIX)]
    assert not (tmp_path / "report.jsonl").exists()


def test_memlock_too_low(tmp_path):
    """Without CAP_IPC_LOCK io_uring charges fixed buffers to the limit."""
    if subprocess.run(["setpriv", "--version"], capture_output=True).returncode:
        pytest.skip("setpriv (util-linux) missing: cannot drop CAP_IPC_LOCK")
    r, name = run_case(tmp_path, [*HOST_PAGES, "--bs=64k", "--iodepth=32"],
                       prefix=["setpriv", "--inh-caps=-ipc_lock",
                               "--bounding-set=-ipc_lock", "prlimit",
                               "--memlock=65536"])
    check_refusal(r, name, tmp_path,
                  "registering fixed buffers: Cannot allocate memory "
                  "(ENOMEM). RLIMIT_MEMLOCK is too low: 2097152 bytes must be "
                  "locked, the soft limit is 65536 and the hard limit 65536 "
                  "bytes (without CAP_IPC_LOCK io_uring charges fixed buffers "
                  "to it). Try 'ulimit -l unlimited' (or a limit of at least "
                  "2048 KiB), or run with CAP_IPC_LOCK.")


def test_out_of_file_descriptors(tmp_path):
    """RLIMIT_NOFILE so low that the engine's own open fails (EMFILE): the
    message ends with the limit and what to raise it to.  How many
    descriptors fio itself takes first depends on the build (ASan), so the
    case walks the limit down from 16 to the first one where the engine is
    the one refused; below 7 fio's own helper thread fails (or asserts)."""
    for n in range(16, 6, -1):
        for p in tmp_path.iterdir():
            if p.name == "report.jsonl":
                p.unlink()
        r, name = run_case(tmp_path, [*HOST_PAGES],
                           prefix=["prlimit", f"--nofile={n}"])
        if "(EMFILE)" in r.stderr:
            break
    else:
        pytest.fail(f"no RLIMIT_NOFILE in 16..7 made the engine fail with "
                    f"EMFILE; last stderr:\n{r.stderr}")
    hint = (f"The process is out of file descriptors: RLIMIT_NOFILE is {n} "
            f"(hard {n}), and the engine needs a few per dma-buf. Try "
            f"'ulimit -n {4 * n + 64}' or fewer, larger dma-bufs "
            "(dmabuf_size_max).")
    # whichever of the engine's opens comes first at this limit
    places = {
        "opening the report file": (
            "opening the report file: Too many open files (EMFILE). "
            f"dmabuf_report={tmp_path}/report.jsonl cannot be opened for "
            "appending. Check that its directory exists and is writable. "
            + hint, False),
        "io_uring_setup": (
            "io_uring_setup: Too many open files (EMFILE). 1 entries. " + hint,
            True),
        "opening the target": (
            "opening the target: Too many open files (EMFILE). "
            f"{tmp_path}/target.img cannot be opened (fio says why above). "
            + hint, True),
    }
    lines = [ln for ln in r.stderr.splitlines() if ln.startswith(PREFIX)]
    assert lines, r.stderr
    place = lines[0][len(PREFIX):].split(":")[0]
    assert place in places, lines[0]
    msg, report = places[place]
    check_refusal(r, name, tmp_path, msg, report=report)
