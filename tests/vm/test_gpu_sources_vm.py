# SPDX-License-Identifier: GPL-2.0-only
"""vm tier: the GPU-side work of issue 10 against real kernel drivers.

One boot of the rig runs, on the emulated NVMe:

- cpu_view=shadow on udmabuf, heap and drm (vgem): reads and writes checked
  direction by direction (an independent psync writer or reader, poisoned
  destinations), the shadow filled through the exporter's mapping;
- dmabuf_src=cuda against the libcuda TEST DOUBLE, which here exports a
  real udmabuf: the same chains, the report's exporter is the kernel's
  exp_name, and a silent no-op copy (DROP=dtoh) is caught;
- the refusals only a real DRM device can show (amdgpu on vgem) and the drm
  placement read from vgem's fdinfo.
"""
import json
import shlex

import pytest

from dbu_test import BUILD, read_reports

pytestmark = pytest.mark.vm

DEV = "/dev/nvme0n1"
DOUBLE = BUILD / "cuda-double" / "current"
SOURCES = ["udmabuf", "heap", "drm", "cuda"]
COMMON = ["--direct=1", "--allow_file_create=0", f"--filename={DEV}",
          "--size=4m", "--bs=128k"]


def fio(name, *args, cuda=False, drop=None):
    """One guest command: its JSON, stderr and exit status under name."""
    env = ""
    if cuda:
        env = f"LD_LIBRARY_PATH={shlex.quote(str(DOUBLE))}:$LD_LIBRARY_PATH "
        if drop:
            env += f"DBU_CUDA_DOUBLE_DROP={drop} "
    q = " ".join(shlex.quote(a) for a in args)
    return (f'{env}fio --output-format=json --output="$D/{name}.json" '
            f'--name={name} {q} 2>"$D/{name}.err"; echo $? >"$D/{name}.rc"')


def engine(src, name, *args):
    return ["--ioengine=dmabuf_uring", f"--dmabuf_src={src}",
            f"--dmabuf_report=$D/{name}.jsonl", *COMMON, *args]


def chains(src, tag, **kw):
    """read-direction and write-direction chains for one source."""
    view = [] if src == "cuda" else ["--dmabuf_cpu_view=shadow"]
    return [
        fio(f"seed-{tag}", "--ioengine=psync", *COMMON, "--rw=write",
            "--verify=crc32c", "--do_verify=0"),
        fio(f"read-{tag}", *engine(src, f"read-{tag}", "--dmabuf_attach=bounce",
                                   "--rw=write", "--verify=crc32c",
                                   "--verify_only=1", "--verify_fatal=1",
                                   "--buffer_pattern=0xdeadbeef",
                                   "--iodepth=8", *view),
            cuda=src == "cuda", **kw),
        fio(f"poison-{tag}", "--ioengine=psync", *COMMON, "--rw=write",
            "--buffer_pattern=0xdeadbeef"),
        fio(f"write-{tag}", *engine(src, f"write-{tag}", "--dmabuf_attach=bounce",
                                    "--rw=write", "--verify=crc32c",
                                    "--do_verify=0", "--iodepth=8", *view),
            cuda=src == "cuda", **kw),
        fio(f"witness-{tag}", "--ioengine=psync", *COMMON, "--rw=write",
            "--verify=crc32c", "--verify_only=1", "--verify_fatal=1"),
    ]


def guest_script(d):
    lines = ["#!/bin/sh", f"D={shlex.quote(str(d))}", 'cd "$D" || exit 1']
    for src in SOURCES:
        lines += chains(src, src)
    lines += chains("cuda", "cuda-drop", drop="dtoh")[:2]
    lines.append(fio("cuda-kernel", *engine("cuda", "cuda-kernel",
                                            "--dmabuf_attach=kernel",
                                            "--rw=read"), cuda=True))
    lines.append(fio("amdgpu-first", *engine("amdgpu", "amdgpu-first",
                                             "--dmabuf_attach=bounce",
                                             "--rw=read")))
    lines.append(fio("amdgpu-vgem", *engine("amdgpu:/dev/dri/card0",
                                            "amdgpu-vgem",
                                            "--dmabuf_attach=bounce",
                                            "--rw=read")))
    # the script expands $D in the report paths: quote them back
    return "\n".join(ln.replace("'--dmabuf_report=$D/", '"--dmabuf_report=$D/')
                     .replace(".jsonl'", '.jsonl"') for ln in lines) + "\n"


class Run:
    def __init__(self, d, name):
        self.rc = int((d / f"{name}.rc").read_text())
        self.err = (d / f"{name}.err").read_text()
        text = (d / f"{name}.json").read_text()
        self.fio = json.loads(text[text.index("{"):]) if "{" in text else {}
        rep = d / f"{name}.jsonl"
        self.report = read_reports(rep)[-1] if rep.exists() else None


@pytest.fixture(scope="module")
def guest(rig, tmp_path_factory):
    if not (DOUBLE / "libcuda.so.1").exists():
        pytest.fail(f"{DOUBLE}/libcuda.so.1 missing: cmake --build build")
    d = tmp_path_factory.mktemp("gpu-sources")
    (d / "run.sh").write_text(guest_script(d))
    rc, out = rig.run(["/bin/sh", str(d / "run.sh")], rw=[str(d)],
                      timeout=900, stream=False)
    assert rc == 0, out[-4000:]
    return lambda name: Run(d, name)


PLACEMENT = {
    "udmabuf": "system RAM (memfd)",
    "heap": "system RAM (dma-heap system)",
    "drm": "DRM vgem dumb buffer (/dev/dri/card0); system RAM (vgem keeps "
           "GEM objects in shmem)",
}


@pytest.mark.parametrize("src", SOURCES)
@pytest.mark.parametrize("way", ["read", "write"])
def test_direction_isolated(guest, src, way):
    run = guest(f"{way}-{src}")
    assert run.rc == 0, run.err
    if way == "write":
        w = guest(f"witness-{src}")
        assert w.rc == 0, w.err
    rep = run.report
    assert rep["cpu_view"] == "shadow" and rep["shadow_copies"] > 0, rep
    assert rep["shadow_bytes"] >= 4 << 20 and rep["bounce_bytes"] >= 4 << 20
    if src == "cuda":
        assert rep["exporter"] == "udmabuf"     # the double's real dma-buf
        assert "dbu libcuda test double (memfd + udmabuf)" in rep["placement"]
    else:
        assert rep["placement"] == PLACEMENT[src]


def test_cuda_silent_noop_is_caught(guest):
    run = guest("read-cuda-drop")
    assert run.rc != 0
    assert "bad magic header" in run.err


def test_cuda_kernel_attach_without_series(guest):
    run = guest("cuda-kernel")
    assert run.rc == 1, run.err
    assert run.report["uapi_probe"] == "absent", run.report


def test_amdgpu_on_vgem_is_refused(guest):
    run = guest("amdgpu-vgem")
    assert run.rc == 1
    msg = ("opening the amdgpu device: No such device (ENODEV). /dev/dri/card0 "
           "is driven by vgem, not amdgpu. Try dmabuf_src=drm:/dev/dri/card0 "
           "for a dumb buffer on it.")
    assert f"fio: dmabuf_uring: {msg}\n" in run.err, run.err
    assert run.report["errors"] == [msg]


def test_amdgpu_search_names_every_node(guest):
    """Render nodes first, then card nodes, from /dev/dri's listing."""
    run = guest("amdgpu-first")
    assert run.rc == 1
    msg, = run.report["errors"]
    assert msg.startswith("finding an amdgpu device: No such device (ENODEV). "
                          "no DRM node in /dev/dri that this user can open is "
                          "driven by amdgpu (/dev/dri/renderD128: vgem, "
                          "/dev/dri/card0: vgem"), msg
