# SPDX-License-Identifier: GPL-2.0-only
"""dmabuf_src=cuda against the libcuda TEST DOUBLE (tests/cuda/): the engine's
CUDA logic on every machine, no GPU needed.

The double (build/cuda-double/*/libcuda.so.1, first on LD_LIBRARY_PATH)
implements only the entry points the engine uses, over memfd memory, and
logs every call.  These tests prove the call order, every error path and
message, the shadow copies and the report; they prove nothing about the
NVIDIA driver: tests/gpu runs the real libcuda where a GPU is.

Verify runs are direction-isolated, as the p2p verify jobs: reads check data
an independent psync writer stamped, into a poisoned destination; writes are
checked by an independent psync O_DIRECT reader.  The double's DROP knob
makes one copy direction a silent no-op: the chain must then fail.
"""
import subprocess
from pathlib import Path

import pytest

from dbu_ctest import compile_c
from dbu_test import BUILD, REPO, read_reports, run_fio

pytestmark = [pytest.mark.host]

DOUBLE = BUILD / "cuda-double" / "current"
OLD = BUILD / "cuda-double" / "old"
PREFIX = "fio: dmabuf_uring: "
NAME = "dbu libcuda test double"


@pytest.fixture(autouse=True)
def need_double():
    if not (DOUBLE / "libcuda.so.1").exists():
        pytest.fail(f"{DOUBLE}/libcuda.so.1 is missing: the build makes it "
                    "(cmake --build build)")


def env(log, lib=DOUBLE, **knobs):
    e = {"LD_LIBRARY_PATH": f"{lib}:{BUILD}", "DBU_CUDA_DOUBLE_LOG": str(log)}
    e.update({f"DBU_CUDA_DOUBLE_{k.upper()}": str(v) for k, v in knobs.items()})
    return e


def cuda_job(target, report, *extra, src="cuda", attach="bounce"):
    return ["--name=cu", "--ioengine=dmabuf_uring", f"--filename={target}",
            f"--dmabuf_src={src}", f"--dmabuf_attach={attach}", "--direct=1",
            "--size=4m", f"--dmabuf_report={report}", *extra]


def calls(log):
    return [ln.split()[0] for ln in Path(log).read_text().splitlines()]


def engine_lines(r):
    return [ln[len(PREFIX):] for ln in r.stderr.splitlines()
            if ln.startswith(PREFIX) and ": source=" not in ln]


def test_bounce_verify_and_call_order(target, tmp_path):
    log, report = tmp_path / "cuda.log", tmp_path / "r.json"
    r = run_fio(cuda_job(target, report, "--rw=randrw", "--bs=64k",
                         "--iodepth=8", "--verify=crc32c", "--verify_fatal=1",
                         "--dmabuf_size_max=256k"), env=env(log))
    assert r.returncode == 0, r.stdout + r.stderr
    c = calls(log)
    # open: the driver, then the device, its dma-buf support, a context
    assert c[:9] == ["cuInit", "cuDriverGetVersion", "cuDeviceGetCount",
                     "cuDeviceGet", "cuDeviceGetName", "cuDeviceGetAttribute",
                     "cuDeviceGetAttribute", "cuDevicePrimaryCtxRetain",
                     "cuCtxSetCurrent"], c[:9]
    text = log.read_text()
    assert "cuDeviceGetAttribute 124 0" in text     # dma-buf support
    assert "cuDeviceGetAttribute 118 0" in text     # RDMA write ordering
    # bounce: the NVMe never writes device memory, so nothing to flush
    assert "cuFlushGPUDirectRDMAWrites" not in c
    # every slot allocated, exported and freed; the context released last
    allocs = c.count("held")
    assert allocs == c.count("released") == c.count("cuMemFree_v2") == \
        c.count("cuMemGetHandleForAddressRange") >= 2
    assert c[-1] == "cuDevicePrimaryCtxRelease_v2"
    # a host-to-device copy has landed before the device may read it
    for i, name in enumerate(c):
        if name == "cuMemcpyHtoD_v2":
            assert c[i + 1] == "cuCtxSynchronize", c[i:i + 2]
    row, = read_reports(report)
    assert (row["source"], row["attach"], row["cpu_view"]) == \
        ("cuda", "bounce", "shadow")
    assert row["placement"].startswith(
        f"CUDA device memory (cuMemAlloc) on cuda:0, {NAME} (")
    assert str(DOUBLE / "libcuda.so.1") in row["placement"]
    assert row["bounce_bytes"] > 0 and row["shadow_copies"] > 0
    assert row["shadow_bytes"] >= 4 << 20 and row["shadow_timed"] is True
    assert row["cpu_syncs"] == 0 and row["errors"] == []
    assert len(row["buffers"]) == allocs


def seed(target, bs="128k"):
    w = run_fio(["--name=seed", "--ioengine=psync", f"--filename={target}",
                 "--direct=1", "--rw=write", f"--bs={bs}", "--size=4m",
                 "--verify=crc32c", "--do_verify=0"])
    assert w.returncode == 0, w.stderr


def read_back(target, report, log, timed=1, **knobs):
    return run_fio(cuda_job(target, report, "--rw=write", "--bs=128k",
                            "--iodepth=8", "--verify=crc32c",
                            "--verify_only=1", "--verify_fatal=1",
                            "--buffer_pattern=0xdeadbeef",
                            f"--dmabuf_shadow_timed={timed}"),
                   env=env(log, **knobs))


@pytest.mark.parametrize("timed", [1, 0])
def test_read_direction(target, tmp_path, timed):
    """NVMe -> device memory alone: what the shadow saw came from the
    device memory, which held the poison before each read."""
    seed(target)
    report = tmp_path / "r.json"
    r = read_back(target, report, tmp_path / "cuda.log", timed)
    assert r.returncode == 0, r.stdout + r.stderr
    row, = read_reports(report)
    assert row["shadow_timed"] is bool(timed) and row["shadow_copies"] > 32


@pytest.mark.parametrize("drop", ["htod", "dtoh"])
def test_read_silent_noop_is_caught(target, tmp_path, drop):
    seed(target)
    r = read_back(target, tmp_path / "r.json", tmp_path / "cuda.log",
                  drop=drop)
    assert r.returncode != 0, r.stdout + r.stderr
    assert "verify: bad magic header" in r.stdout + r.stderr


def write_then_witness(target, tmp_path, **knobs):
    p = run_fio(["--name=poison", "--ioengine=psync", f"--filename={target}",
                 "--direct=1", "--rw=write", "--bs=128k", "--size=4m",
                 "--buffer_pattern=0xdeadbeef"])
    assert p.returncode == 0, p.stderr
    report = tmp_path / "r.json"
    w = run_fio(cuda_job(target, report, "--rw=write", "--bs=128k",
                         "--iodepth=8", "--verify=crc32c", "--do_verify=0"),
                env=env(tmp_path / "cuda.log", **knobs))
    assert w.returncode == 0, w.stdout + w.stderr
    return run_fio(["--name=witness", "--ioengine=psync",
                    f"--filename={target}", "--direct=1", "--rw=write",
                    "--bs=128k", "--size=4m", "--verify=crc32c",
                    "--verify_only=1", "--verify_fatal=1"])


def test_write_direction(target, tmp_path):
    v = write_then_witness(target, tmp_path)
    assert v.returncode == 0, v.stdout + v.stderr


@pytest.mark.parametrize("drop", ["htod", "dtoh"])
def test_write_silent_noop_is_caught(target, tmp_path, drop):
    v = write_then_witness(target, tmp_path, drop=drop)
    assert v.returncode != 0, v.stdout + v.stderr
    assert "bad magic header" in v.stdout + v.stderr


@pytest.mark.parametrize("src,ordinal,rdma", [("cuda:vmm", 0, 1),
                                              ("cuda:1:vmm", 1, 0)])
def test_vmm(target, tmp_path, src, ordinal, rdma):
    """cuMemCreate memory: granularity-sized, mapped, made accessible before
    any copy, GPUDirect RDMA asked where the device has it; undone in
    reverse at the end."""
    log, report = tmp_path / "cuda.log", tmp_path / "r.json"
    r = run_fio(cuda_job(target, report, "--rw=randrw", "--bs=64k",
                         "--iodepth=8", "--verify=crc32c", "--verify_fatal=1",
                         "--dmabuf_size_max=1m", src=src),
                env=env(log, devices=2, rdma=rdma))
    assert r.returncode == 0, r.stdout + r.stderr
    text = log.read_text()
    c = calls(log)
    assert "cuMemAlloc_v2" not in c
    assert f"cuMemCreate {2 << 20} rdma={rdma}" in text
    first = c.index("cuMemCreate")
    assert c[first:first + 5] == ["cuMemCreate", "held", "cuMemAddressReserve",
                                  "cuMemMap", "cuMemSetAccess"], c[first:]
    last = len(c) - 1 - c[::-1].index("cuMemUnmap")
    assert c[last:last + 3] == ["cuMemUnmap", "cuMemAddressFree",
                                "cuMemRelease"], c[last:]
    assert c.count("held") == c.count("released") == c.count("cuMemCreate")
    row, = read_reports(report)
    want = "cuMemCreate, GPUDirect RDMA" if rdma else "cuMemCreate"
    assert row["placement"].startswith(f"CUDA device memory ({want}) on "
                                       f"cuda:{ordinal}")


def test_misaligned_alloc_is_padded(target, tmp_path):
    log, report = tmp_path / "cuda.log", tmp_path / "r.json"
    r = run_fio(cuda_job(target, report, "--rw=randwrite", "--bs=16k",
                         "--iodepth=4", "--verify=crc32c"),
                env=env(log, misalign=1))
    assert r.returncode == 0, r.stdout + r.stderr
    sizes = [int(ln.split()[1]) for ln in log.read_text().splitlines()
             if ln.startswith("cuMemAlloc_v2")]
    assert sizes[1] == sizes[0] + 4096, sizes


def test_placement_any_runs_on_host_memory(target, tmp_path):
    report = tmp_path / "r.json"
    r = run_fio(cuda_job(target, report, "--rw=write", "--bs=64k",
                         "--dmabuf_placement_any=1"),
                env=env(tmp_path / "cuda.log", memtype=1))
    assert r.returncode == 0, r.stdout + r.stderr
    row, = read_reports(report)
    assert row["placement"].startswith("CUDA host memory (cuMemAlloc)")


def test_p2p_job_files_run_unchanged(tmp_path):
    """jobs/p2p/verify-*.fio with GPU_SRC=cuda:0, bounce sections, as the
    job headers say to run them by hand."""
    dev = tmp_path / "dev.img"
    with open(dev, "wb") as f:
        f.truncate(16 << 20)
    report = tmp_path / "r.json"
    e = env(tmp_path / "cuda.log", DEV=dev)
    e.update({"DEV": str(dev), "VERIFY_SIZE": "4m", "GPU_SRC": "cuda:0",
              "REPORT": str(report)})
    for job, sections in [("verify-read", ["seed", "read-bounce"]),
                          ("verify-write", ["poison-bounce", "write-bounce",
                                            "witness-bounce"])]:
        args = [str(REPO / "jobs" / "p2p" / f"{job}.fio")] + \
            [f"--section={s}" for s in sections]
        r = run_fio(args, env=e)
        assert r.returncode == 0, r.stdout + r.stderr
    rows = read_reports(report)
    assert [row["job"] for row in rows] == ["read-bounce", "write-bounce"]
    assert all(row["cpu_view"] == "shadow" and NAME in row["placement"]
               for row in rows)


# ------------------------------------------------------------- refusals
def has_system_libcuda():
    out = subprocess.run(["/sbin/ldconfig", "-p"], capture_output=True,
                         text=True).stdout
    return "libcuda.so.1 " in out


DOUBLE_NAME = f"{NAME} (memfd, no dma-buf)"
BAD_ARG = ("dmabuf_src: Invalid argument (EINVAL). dmabuf_src={src}: after "
           "'cuda:' comes a device ordinal (0, 1, ...), then ':vmm' if asked. "
           "Try dmabuf_src=cuda, cuda:0 or cuda:0:vmm.")
CASES = [
    ("stub", {"fail": "cuInit=34"}, "cuda",
     "cuInit: No such file or directory (ENOENT). cuda:0 (?): cuInit "
     "returned CUDA_ERROR_STUB_LIBRARY (34). That libcuda.so.1 is the CUDA "
     "toolkit's stub for linking, not the driver's library: take .../stubs "
     "out of LD_LIBRARY_PATH, or install the NVIDIA driver."),
    ("no_device", {"devices": 0}, "cuda",
     "cuInit: No such device (ENODEV). cuda:0 (?): cuInit returned "
     "CUDA_ERROR_NO_DEVICE (100). The driver sees no GPU: check nvidia-smi, "
     "and that the nvidia kernel module is loaded."),
    ("insufficient_driver", {"fail": "cuInit=35"}, "cuda",
     "cuInit: Function not implemented (ENOSYS). cuda:0 (?): cuInit returned "
     "CUDA_ERROR_INSUFFICIENT_DRIVER (35). The nvidia kernel module is older "
     "than libcuda.so.1: install matching versions of both."),
    ("driver_too_old", {"version": 11040}, "cuda",
     "cuDriverGetVersion: Function not implemented (ENOSYS). the CUDA driver "
     "is version 11.4; dma-buf export of device memory needs 11.7 (r515) or "
     "later. Update the NVIDIA driver."),
    ("ordinal_missing", {"devices": 2}, "cuda:2",
     "dmabuf_src: No such device (ENODEV). dmabuf_src=cuda:2: no CUDA device "
     "with ordinal 2; the driver sees 2 (cuda:0 to cuda:N-1)."),
    ("ordinal_bad", {}, "cuda:gpu0", BAD_ARG.format(src="cuda:gpu0")),
    ("ordinal_empty", {}, "cuda:", BAD_ARG.format(src="cuda:")),
    ("vmm_typo", {}, "cuda:0:vm", BAD_ARG.format(src="cuda:0:vm")),
    ("vmm_twice", {}, "cuda:vmm:vmm", BAD_ARG.format(src="cuda:vmm:vmm")),
    ("no_vmm", {"vmm": 0}, "cuda:0:vmm",
     "dmabuf_src: Operation not supported (EOPNOTSUPP). dmabuf_src=cuda:0:vmm: "
     f"cuda:0 ({DOUBLE_NAME}) has no virtual memory management (cuMemCreate). "
     "Drop ':vmm'."),
    ("vmm_create_fails", {"fail": "cuMemCreate=2"}, "cuda:vmm",
     f"cuMemCreate: Cannot allocate memory (ENOMEM). cuda:0 ({DOUBLE_NAME}): "
     "cuMemCreate returned CUDA_ERROR_OUT_OF_MEMORY (2). Try a smaller "
     "iodepth or bs, free GPU memory, or drop ':vmm'."),
    ("vmm_map_fails", {"fail": "cuMemMap=1"}, "cuda:vmm",
     f"cuMemMap: Input/output error (EIO). cuda:0 ({DOUBLE_NAME}): cuMemMap "
     "returned CUDA_ERROR_INVALID_VALUE (1). Try a smaller iodepth or bs, "
     "free GPU memory, or drop ':vmm'."),
    ("vmm_access_fails", {"fail": "cuMemSetAccess=1"}, "cuda:vmm",
     f"cuMemSetAccess: Input/output error (EIO). cuda:0 ({DOUBLE_NAME}): "
     "cuMemSetAccess returned CUDA_ERROR_INVALID_VALUE (1). Try a smaller "
     "iodepth or bs, free GPU memory, or drop ':vmm'."),
    ("no_dmabuf_support", {"dmabuf": 0}, "cuda",
     f"dma-buf export on CUDA: Operation not supported (EOPNOTSUPP). cuda:0 "
     f"({DOUBLE_NAME}) cannot export device memory as a dma-buf "
     "(CU_DEVICE_ATTRIBUTE_DMA_BUF_SUPPORTED is 0): the nvidia kernel module "
     "is the proprietary one, or the kernel or GPU is too old. dma-buf export "
     "needs the open GPU kernel modules (nvidia-open, r515 on). Try "
     "dmabuf_src=udmabuf for the same path through host memory."),
    ("out_of_memory", {"fail": "cuMemAlloc_v2=2"}, "cuda",
     f"cuMemAlloc: Cannot allocate memory (ENOMEM). cuda:0 ({DOUBLE_NAME}): "
     "cuMemAlloc returned CUDA_ERROR_OUT_OF_MEMORY (2). Try a smaller iodepth "
     "or bs, or free GPU memory."),
    ("export_refused", {"fail": "cuMemGetHandleForAddressRange=801"}, "cuda",
     "cuMemGetHandleForAddressRange: Operation not supported (EOPNOTSUPP). "
     f"cuda:0 ({DOUBLE_NAME}): cuMemGetHandleForAddressRange returned "
     "CUDA_ERROR_NOT_SUPPORTED (801). The driver would not export this memory "
     "as a dma-buf: dma-buf export needs the open GPU kernel modules "
     "(nvidia-open) and a kernel with dma-buf support for them; some drivers "
     "export only cuMemCreate memory: try dmabuf_src=cuda:N:vmm."),
    ("not_device_memory", {"memtype": 4}, "cuda",
     "placement of dmabuf_src=cuda: Remote I/O error (EREMOTEIO). cuda:0 "
     f"({DOUBLE_NAME}) gave memory of CUDA type unified, not device memory. "
     "Set dmabuf_placement_any=1 to run on it anyway."),
    ("copy_fails", {"fail": "cuMemcpyHtoD_v2=1"}, "cuda",
     f"cuMemcpyHtoD: Input/output error (EIO). cuda:0 ({DOUBLE_NAME}): "
     "cuMemcpyHtoD for 65536 bytes at offset 0 of slot 0 returned "
     "CUDA_ERROR_INVALID_VALUE (1)."),
    ("sync_fails", {"fail": "cuCtxSynchronize=1"}, "cuda",
     f"cuCtxSynchronize: Input/output error (EIO). cuda:0 ({DOUBLE_NAME}): "
     "cuCtxSynchronize for 65536 bytes at offset 0 of slot 0 returned "
     "CUDA_ERROR_INVALID_VALUE (1)."),
    ("memtype_query_fails", {"fail": "cuPointerGetAttribute=1"}, "cuda",
     f"cuPointerGetAttribute: Input/output error (EIO). cuda:0 ({DOUBLE_NAME}):"
     " cuPointerGetAttribute returned CUDA_ERROR_INVALID_VALUE (1). The driver "
     "would not say what memory it gave; check the kernel log."),
    ("name_fails", {"fail": "cuDeviceGetName=1"}, "cuda",
     "cuDeviceGetName: Input/output error (EIO). cuda:0 (?): cuDeviceGetName "
     "returned CUDA_ERROR_INVALID_VALUE (1)."),
]


@pytest.mark.parametrize("knobs,src,msg", [c[1:] for c in CASES],
                         ids=[c[0] for c in CASES])
def test_refused(target, tmp_path, knobs, src, msg):
    report = tmp_path / "r.json"
    r = run_fio(cuda_job(target, report, "--rw=read", "--bs=64k",
                         "--size=1m", "--dmabuf_size_max=64k", src=src),
                env=env(tmp_path / "cuda.log", export="memfd", **knobs))
    assert r.returncode == 1, r.stdout + r.stderr
    assert engine_lines(r) == [msg], r.stderr
    row, = read_reports(report)
    assert row["result"] == "failed" and msg in row["errors"]
    if (tmp_path / "cuda.log").exists():
        c = calls(tmp_path / "cuda.log")
        assert c.count("held") == c.count("released")   # nothing leaked
        assert c.count("cuDevicePrimaryCtxRetain") == \
            c.count("cuDevicePrimaryCtxRelease_v2")


def test_old_driver_without_export(target, tmp_path):
    r = run_fio(cuda_job(target, tmp_path / "r.json", "--rw=read"),
                env=env(tmp_path / "cuda.log", lib=OLD))
    assert r.returncode == 1
    assert engine_lines(r) == [
        "loading libcuda.so.1: Function not implemented (ENOSYS). it has no "
        "cuMemGetHandleForAddressRange: the NVIDIA driver is older than "
        "CUDA 11.7 (r515), the first that exports device memory as a "
        "dma-buf. Update the driver."], r.stderr


def test_no_libcuda(target, tmp_path):
    if has_system_libcuda():
        pytest.skip("this machine has a libcuda.so.1 of its own (ldconfig "
                    "-p): its absence cannot be shown here")
    r = run_fio(cuda_job(target, tmp_path / "r.json", "--rw=read"))
    assert r.returncode == 1
    assert engine_lines(r) == [
        "loading libcuda.so.1: No such file or directory (ENOENT). "
        "libcuda.so.1: cannot open shared object file: No such file or "
        "directory. dmabuf_src=cuda needs the NVIDIA driver's CUDA library: "
        "install it (Debian: libcuda1, or the driver's own installer), or add "
        "its directory to LD_LIBRARY_PATH."], r.stderr


@pytest.mark.parametrize("args,msg", [
    (["--dmabuf_cpu_view=mmap"],
     "dmabuf_cpu_view=mmap: Invalid argument (EINVAL). dmabuf_src=cuda is "
     "device memory the CPU cannot map. Use dmabuf_cpu_view=shadow (or auto): "
     "a host copy per I/O, made with the exporter's copy API."),
    (["--dmabuf_attach=pages"],
     "dmabuf_attach=pages: Bad address (EFAULT). dmabuf_src=cuda is device "
     "memory without CPU pages for io_uring to pin. Try dmabuf_attach=bounce "
     "(through RAM), or dmabuf_attach=kernel on a kernel with the io_uring "
     "dma-buf series."),
], ids=["cpu_view_mmap", "pages"])
def test_refused_before_libcuda(target, tmp_path, args, msg):
    """Option checks come first: libcuda is never loaded for these."""
    log = tmp_path / "cuda.log"
    r = run_fio(cuda_job(target, tmp_path / "r.json", "--rw=read", *args),
                env=env(log))
    assert r.returncode == 1
    assert engine_lines(r) == [msg], r.stderr
    assert not log.exists()


def test_fdinfo_regions(tmp_path):
    """The fdinfo parser behind amdgpu's and drm's placement (tests/c)."""
    prog = compile_c("fdinfo_regions", tmp_path)
    r = subprocess.run([prog], capture_output=True, text=True, check=False)
    assert r.returncode == 0, r.stderr
