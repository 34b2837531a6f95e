# SPDX-License-Identifier: GPL-2.0-only
"""Every bad input fails at job start with its one message and exit 1."""
import subprocess

import pytest

from dbu_test import fio_env, read_reports, run_fio

pytestmark = [pytest.mark.host, pytest.mark.sanitize]

PREFIX = "fio: dmabuf_uring: "


def fail(target, *args, env=None, report=None):
    cmd = ["--name=e", "--ioengine=dmabuf_uring", f"--filename={target}",
           "--rw=read", "--bs=4k", "--size=1m", *args]
    if report:
        cmd.append(f"--dmabuf_report={report}")
    r = run_fio(cmd, env=env)
    assert r.returncode == 1, r.stdout + r.stderr
    return r.stderr


def test_unknown_source(target):
    assert (PREFIX + "dmabuf_src: Invalid argument (EINVAL). unknown "
            "dmabuf_src 'foo'. Valid values: udmabuf[:hugetlb], "
            "heap[:NAME], drm[:PATH], amdgpu[:PATH][:vram|gtt], "
            "cuda[:ORDINAL], host.\n") \
        in fail(target, "--dmabuf_src=foo")


def test_unknown_attach(target):
    assert (PREFIX + "dmabuf_attach: Invalid argument (EINVAL). unknown "
            "dmabuf_attach 'foo'. Valid values: kernel, pages, bounce.\n") \
        in fail(target, "--dmabuf_src=host", "--dmabuf_attach=foo")


@pytest.mark.parametrize("src", ["cuda:0", "amdgpu:/dev/dri/renderD128:vram"])
def test_source_not_in_build(target, src):
    assert (PREFIX + f"dmabuf_src: Operation not supported (EOPNOTSUPP). "
            f"dmabuf_src={src} is not available in this build (its exporter "
            "was not compiled in). Try dmabuf_src=host, or rebuild with the "
            "exporter's libraries installed.\n") \
        in fail(target, f"--dmabuf_src={src}", "--dmabuf_attach=bounce")


def test_host_takes_no_argument(target):
    assert (PREFIX + "dmabuf_src: Invalid argument (EINVAL). dmabuf_src=host "
            "takes no argument (got 'x').\n") \
        in fail(target, "--dmabuf_src=host:x", "--dmabuf_attach=pages")


def test_kernel_attach_needs_direct(target):
    assert (PREFIX + "dmabuf_attach=kernel without direct=1: Invalid "
            "argument (EINVAL). the kernel registers a dma-buf only against "
            "a target opened with O_DIRECT. Add direct=1.\n") \
        in fail(target, "--dmabuf_src=udmabuf", "--dmabuf_attach=kernel")


def test_kernel_attach_refuses_hipri(target):
    assert (PREFIX + "hipri with dmabuf_attach=kernel: Invalid argument "
            "(EINVAL). the io_uring dma-buf series (v5 on) refuses dma-buf "
            "registration on a polled (IOPOLL) ring. Drop hipri.\n") \
        in fail(target, "--dmabuf_src=udmabuf", "--dmabuf_attach=kernel",
                "--direct=1", "--hipri")


def test_target_not_file_or_block(tmp_path):
    report = tmp_path / "r.json"
    err = fail("/dev/null", "--dmabuf_src=host", "--dmabuf_attach=pages",
               report=report)
    msg = ("opening the target: Block device required (ENOTBLK). /dev/null "
           "is neither a regular file nor a block device. Try "
           "filename=/dev/nvmeXnY (or a file for the host tier).")
    assert PREFIX + msg + "\n" in err
    assert read_reports(report)[0]["errors"] == [msg]


def test_size_max_below_one_block(target):
    assert (PREFIX + "dmabuf_size_max: Invalid argument (EINVAL). a buffer "
            "of 1024 bytes cannot hold one block of 4096 bytes aligned to "
            "the page size. Try a larger dmabuf_size_max or a smaller bs.\n") \
        in fail(target, "--dmabuf_src=host", "--dmabuf_attach=pages",
                "--dmabuf_size_max=1k")


def test_memlock_too_low(target):
    """Without CAP_IPC_LOCK io_uring charges fixed buffers to the limit."""
    if subprocess.run(["setpriv", "--version"], capture_output=True).returncode:
        pytest.skip("setpriv (util-linux) missing: cannot drop CAP_IPC_LOCK")
    cmd = ["setpriv", "--inh-caps=-ipc_lock", "--bounding-set=-ipc_lock",
           "prlimit", "--memlock=65536", "fio", "--name=e",
           "--ioengine=dmabuf_uring", f"--filename={target}", "--rw=read",
           "--bs=64k", "--iodepth=32", "--size=1m", "--dmabuf_src=host",
           "--dmabuf_attach=pages"]
    r = subprocess.run(cmd, env=fio_env(), capture_output=True, text=True,
                       timeout=60)
    assert r.returncode == 1, r.stderr
    assert (PREFIX + "registering fixed buffers: Cannot allocate memory "
            "(ENOMEM). RLIMIT_MEMLOCK is too low: 2097152 bytes must be "
            "locked, the soft limit is 65536 and the hard limit 65536 bytes "
            "(without CAP_IPC_LOCK io_uring charges fixed buffers to it). "
            "Try 'ulimit -l unlimited' (or a limit of at least 2048 KiB), or "
            "run with CAP_IPC_LOCK.\n") in r.stderr


def test_failed_job_is_reported(target, tmp_path):
    report = tmp_path / "r.json"
    fail(target, "--dmabuf_src=foo", report=report)
    row = read_reports(report)[0]
    assert row["source"] == "foo" and row["ios"] == 0
    assert row["errors"][0].startswith("dmabuf_src: Invalid argument")


@pytest.mark.parametrize("src", ["heap", "drm"])
def test_pages_needs_pinnable_memory(target, src):
    assert (PREFIX + f"dmabuf_attach=pages: Bad address (EFAULT). "
            f"dmabuf_src={src} has no CPU pages io_uring can pin: its "
            "dma-buf mapping is VM_PFNMAP and registering it fails with "
            "EFAULT. Try dmabuf_attach=bounce, or dmabuf_attach=kernel on a "
            "kernel with the io_uring dma-buf series.\n") \
        in fail(target, f"--dmabuf_src={src}", "--dmabuf_attach=pages")
