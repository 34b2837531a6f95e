# SPDX-License-Identifier: GPL-2.0-only
"""gpu tier: dmabuf_src=cuda against the real NVIDIA driver.

Runs wherever a CUDA GPU and the driver's libcuda.so.1 are (the library's
device machine, a user's workstation); skips with the reason elsewhere.
What it proves that the test double cannot: the driver exports cuMemAlloc
memory as a dma-buf, the copies reach the GPU and come back byte for byte,
and the report names the device.  kernel attach also needs an NVMe target
and a kernel with the io_uring dma-buf series: DBU_GPU_NVME=/dev/nvmeXnY.
"""
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from dbu_test import read_reports, run_fio

pytestmark = [pytest.mark.gpu]


def why_no_gpu():
    if not Path("/dev/nvidiactl").exists():
        return "no NVIDIA GPU here (/dev/nvidiactl missing)"
    out = subprocess.run(["/sbin/ldconfig", "-p"], capture_output=True,
                         text=True).stdout
    if "libcuda.so.1 " not in out:
        return "no libcuda.so.1 (ldconfig -p): the NVIDIA driver's CUDA " \
               "library is not installed"
    return None


@pytest.fixture(autouse=True)
def gpu():
    why = why_no_gpu()
    if why:
        pytest.skip(why)
    if shutil.which("nvidia-smi"):
        print(subprocess.run(["nvidia-smi", "-L"], capture_output=True,
                             text=True).stdout)


def job(target, report, attach, *extra, src="cuda:0"):
    return ["--name=gpu", "--ioengine=dmabuf_uring", f"--filename={target}",
            f"--dmabuf_src={src}", f"--dmabuf_attach={attach}", "--direct=1",
            "--size=64m", f"--dmabuf_report={report}", *extra]


@pytest.mark.parametrize("src,how", [("cuda:0", "cuMemAlloc"),
                                     ("cuda:0:vmm", "cuMemCreate")])
def test_export_and_bounce_verify(target, tmp_path, src, how):
    report = tmp_path / "r.json"
    r = run_fio(job(target, report, "bounce", "--rw=randrw", "--bs=128k",
                    "--iodepth=16", "--verify=crc32c", "--verify_fatal=1",
                    src=src))
    print(r.stderr)
    assert r.returncode == 0, r.stdout + r.stderr
    row, = read_reports(report)
    print(row["exporter"], row["placement"])
    assert row["placement"].startswith(f"CUDA device memory ({how}")
    assert row["exporter"] not in ("none", "unknown", "host")
    assert row["shadow_copies"] > 0 and row["bounce_bytes"] > 0


def test_read_direction(target, tmp_path):
    w = run_fio(["--name=seed", "--ioengine=psync", f"--filename={target}",
                 "--direct=1", "--rw=write", "--bs=1m", "--size=64m",
                 "--verify=crc32c", "--do_verify=0"])
    assert w.returncode == 0, w.stderr
    r = run_fio(job(target, tmp_path / "r.json", "bounce", "--rw=write",
                    "--bs=1m", "--iodepth=8", "--verify=crc32c",
                    "--verify_only=1", "--verify_fatal=1",
                    "--buffer_pattern=0xdeadbeef"))
    assert r.returncode == 0, r.stdout + r.stderr


def test_kernel_attach(tmp_path):
    dev = os.environ.get("DBU_GPU_NVME")
    if not dev:
        pytest.skip("DBU_GPU_NVME is not set: kernel attach needs an NVMe "
                    "namespace this test may overwrite")
    report = tmp_path / "r.json"
    r = run_fio(job(dev, report, "kernel", "--rw=randrw", "--bs=128k",
                    "--iodepth=16", "--verify=crc32c", "--verify_fatal=1",
                    "--allow_file_create=0"))
    row, = read_reports(report)
    if row["uapi_probe"] != "present":
        pytest.skip(f"uapi_probe={row['uapi_probe']}: this kernel lacks the "
                    "io_uring dma-buf series")
    assert r.returncode == 0, r.stdout + r.stderr
