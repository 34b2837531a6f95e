# SPDX-License-Identifier: GPL-2.0-only
"""dmabuf_attach=kernel on a stock kernel, the series' uAPI layout, and the
-EAGAIN reissue path (through dmabuf_inject_eagain), on this host."""
import json
import os
import subprocess

import pytest

from dbu_ctest import compile_c, parse_verdict
from dbu_test import read_reports, run_fio

pytestmark = [pytest.mark.host]

# kernel-uapi.md sections 1.1 and 1.2.
LAYOUT = {
    "sizeof dbu_rsrc_register": 32,
    "offsetof dbu_rsrc_register.nr": 0,
    "offsetof dbu_rsrc_register.flags": 4,
    "offsetof dbu_rsrc_register.resv2": 8,
    "offsetof dbu_rsrc_register.data": 16,
    "offsetof dbu_rsrc_register.tags": 24,
    "sizeof dbu_rsrc_update2": 32,
    "offsetof dbu_rsrc_update2.offset": 0,
    "offsetof dbu_rsrc_update2.flags": 4,
    "offsetof dbu_rsrc_update2.data": 8,
    "offsetof dbu_rsrc_update2.tags": 16,
    "offsetof dbu_rsrc_update2.nr": 24,
    "offsetof dbu_rsrc_update2.resv2": 28,
    "sizeof dbu_regbuf_desc": 80,
    "offsetof dbu_regbuf_desc.type": 0,
    "offsetof dbu_regbuf_desc.flags": 4,
    "offsetof dbu_regbuf_desc.size": 8,
    "offsetof dbu_regbuf_desc.uaddr": 16,
    "offsetof dbu_regbuf_desc.dmabuf_fd": 24,
    "offsetof dbu_regbuf_desc.target_fd": 28,
    "offsetof dbu_regbuf_desc.resv": 32,
    "const DBU_RSRC_UPDATE_EXTENDED": 2,
    "const DBU_REGBUF_TYPE_EMPTY": 0,
    "const DBU_REGBUF_TYPE_UADDR": 1,
    "const DBU_REGBUF_TYPE_DMABUF": 2,
    "const DBU_REGISTER_BUFFERS2": 15,
    "const DBU_REGISTER_BUFFERS_UPDATE": 16,
    "const DBU_RSRC_REGISTER_SPARSE": 1,
    # upstream's struct, as liburing/the kernel headers have it
    "sizeof io_uring_rsrc_update2": 32,
    "offsetof io_uring_rsrc_update2.resv": 4,
    "sizeof io_uring_rsrc_register": 32,
    "const IORING_REGISTER_BUFFERS_UPDATE": 16,
    "const IORING_REGISTER_BUFFERS2": 15,
}


def test_uapi_layout_matches_the_series_and_compiles_with_liburing(tmp_path):
    # the program includes <liburing.h>, <linux/io_uring.h> and dbu_uapi.h
    # under -Wall -Wextra -Werror: no clash, and the _Static_asserts hold
    prog = compile_c("uapi_layout", tmp_path)
    res = subprocess.run([str(prog)], capture_output=True, text=True,
                         check=False)
    assert res.returncode == 0, res.stderr
    got = {}
    for line in res.stdout.splitlines():
        key, _, val = line.rpartition(" ")
        got[key] = int(val)
    assert got == LAYOUT


def test_probe_says_series_absent_on_a_stock_kernel(tmp_path):
    prog = compile_c("probe_verdict", tmp_path)
    res = subprocess.run([str(prog)], capture_output=True, text=True,
                         check=False)
    if res.returncode == 77:
        pytest.skip(f"io_uring is not usable here: {res.stderr.strip()}")
    assert res.returncode == 0, res.stdout + res.stderr
    v = parse_verdict(res.stdout)
    if v["verdict"] == "present":
        pytest.skip(f"kernel {os.uname().release} carries the io_uring "
                    "dma-buf series; tests/kernel covers it")
    assert v["verdict"] == "absent" and v["errno"] == "EINVAL"
    assert v["message"] == (
        "dmabuf_attach=kernel: Invalid argument (EINVAL). the kernel lacks "
        "the io_uring dma-buf registration series (series absent: "
        f"uapi_probe=absent; kernel {os.uname().release} answers EINVAL to "
        "IORING_REGISTER_BUFFERS_UPDATE with IORING_RSRC_UPDATE_EXTENDED, a "
        "flag it does not know). dmabuf_attach=kernel needs a kernel "
        "carrying Pavel Begunkov's \"Add dmabuf read/write via io_uring\" "
        "(v3 or later). Try dmabuf_attach=pages (dmabuf_src=udmabuf or "
        "host) or dmabuf_attach=bounce.")


def test_watchdog_bounds_a_blocked_call_per_thread(tmp_path):
    prog = compile_c("watchdog_bound", tmp_path)
    res = subprocess.run([str(prog)], capture_output=True, text=True,
                         check=False, timeout=30)
    assert res.returncode == 0, res.stdout + res.stderr
    assert res.stdout.splitlines()[-1] == "PASS"


def test_kernel_attach_refuses_a_source_without_dma_buf(target, tmp_path):
    report = tmp_path / "report.jsonl"
    r = run_fio(["--name=k", "--ioengine=dmabuf_uring",
                 f"--filename={target}", "--direct=1", "--size=1m",
                 "--dmabuf_src=host", "--dmabuf_attach=kernel",
                 f"--dmabuf_report={report}"])
    assert r.returncode == 1
    msg = ("fio: dmabuf_uring: dmabuf_attach=kernel: Invalid argument "
           "(EINVAL). dmabuf_src=host exports no dma-buf, so there is "
           "nothing to register through the io_uring dma-buf series. Try "
           "dmabuf_attach=pages with dmabuf_src=host, or a dma-buf source "
           "(dmabuf_src=udmabuf, heap, drm).")
    assert msg in r.stderr.splitlines()
    row, = read_reports(report)
    assert (row["attach"], row["uapi_probe"], row["ios"]) == \
        ("kernel", "not-run", 0)


def eagain_job(target, report, *extra):
    return ["--name=eagain", "--ioengine=dmabuf_uring",
            f"--filename={target}", "--direct=1", "--size=1m", "--bs=4k",
            "--dmabuf_src=host", "--dmabuf_attach=pages",
            f"--dmabuf_report={report}", "--output-format=json", *extra]


@pytest.mark.parametrize("every,iodepth", [(5, 8), (7, 1)])
def test_injected_eagain_is_reissued_and_counted(target, tmp_path, every,
                                                 iodepth):
    report = tmp_path / "report.jsonl"
    r = run_fio(eagain_job(target, report, "--rw=write", "--verify=crc32c",
                           f"--iodepth={iodepth}",
                           f"--dmabuf_inject_eagain={every}"))
    assert r.returncode == 0, r.stderr
    job = json.loads(r.stdout)["jobs"][0]
    assert job["error"] == 0
    done = job["read"]["total_ios"] + job["write"]["total_ios"]
    assert done == 512          # 256 writes, 256 verify reads
    # every Nth completion (reissues included) comes back as -EAGAIN and is
    # reissued: R = floor((done + R) / N), the last one not injected
    row, = read_reports(report)
    assert row["ios"] == done
    assert row["eagain_reissues"] == (done - 1) // (every - 1)
    assert row["errors"] == []


def test_eagain_max_zero_fails_the_request_with_its_place(target, tmp_path):
    report = tmp_path / "report.jsonl"
    r = run_fio(eagain_job(target, report, "--rw=read", "--iodepth=1",
                           "--dmabuf_inject_eagain=3",
                           "--dmabuf_eagain_max=0"))
    assert r.returncode == 1
    assert (f"fio: dmabuf_uring: READ_FIXED: Resource temporarily "
            f"unavailable (EAGAIN). request failed: slot 0, offset 0 in the "
            f"buffer, 4096 bytes, device offset 8192 of {target}, after "
            f"-EAGAIN reissues: dmabuf_eagain_max=0.") in r.stderr.splitlines()
    row, = read_reports(report)
    assert (row["ios"], row["eagain_reissues"]) == (3, 0)


def test_eagain_max_reached_fails_after_the_reissues(target, tmp_path):
    report = tmp_path / "report.jsonl"
    r = run_fio(eagain_job(target, report, "--rw=read", "--iodepth=1",
                           "--dmabuf_inject_eagain=1",
                           "--dmabuf_eagain_max=2"))
    assert r.returncode == 1
    assert (f"fio: dmabuf_uring: READ_FIXED: Resource temporarily "
            f"unavailable (EAGAIN). request failed: slot 0, offset 0 in the "
            f"buffer, 4096 bytes, device offset 0 of {target}, after "
            f"-EAGAIN reissues: dmabuf_eagain_max reached.") \
        in r.stderr.splitlines()
    row, = read_reports(report)
    assert (row["ios"], row["eagain_reissues"]) == (1, 2)
