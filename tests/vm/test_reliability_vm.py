# SPDX-License-Identifier: GPL-2.0-only
"""vm tier: issue 8's reliability fixes against the real exporters.

One boot runs every case (OUT/<case>.{json,err,rc,jsonl}):
  labels      the report's target driver and IOMMU domain are the target's
              at job start: the target is a symlink that exec_postrun turns
              to another device before fio's cleanup
  sync_stall  a vgem write fence on every dma-buf (dmabuf_inject_fence): the
              CPU-access SYNC waits, and the watchdog ends it with its
              diagnostic (vgem would signal the fence only after 10 s)
  bracket_*   CPU access is a per-slot state: exact DMA_BUF_IOCTL_SYNC counts
              at QD 1, fewer and counted unbracketed completions at QD 32 in
              one slot, none unbracketed with one slot per io_u; when fio
              does not look at the bytes (no verify, nothing filled per
              write), one END a slot before the first I/O and no more
  bounce_*    bounce with dmabuf_cpu_sync=0 (fio does not look, the p2p
              jobs) brackets each copy: two SYNCs per copy; with the
              default the views stay in CPU access for fio and the copies
"""
import json
import shlex

import pytest

from dbu_test import BUILD, read_reports

pytestmark = pytest.mark.vm

COMMON = ["--ioengine=dmabuf_uring", "--direct=1", "--allow_file_create=0",
          "--output-format=json"]


def cases(out):
    o = str(out)
    return {
        "labels": ["--name=labels", "--filename=/tmp/dbu-target",
                   "--dmabuf_src=udmabuf", "--dmabuf_attach=pages",
                   "--rw=read", "--bs=4k", "--size=1m",
                   "--exec_postrun=ln -sfn /dev/nullb0 /tmp/dbu-target"],
        "sync_stall": ["--name=sync_stall", "--filename=/dev/nvme0n1",
                       "--dmabuf_src=drm", "--dmabuf_attach=bounce",
                       "--rw=read", "--bs=4k", "--size=1m",
                       "--dmabuf_inject_fence=1", "--dmabuf_watchdog=2"],
        "bracket_qd1": ["--name=bracket_qd1", "--filename=/dev/nullb0",
                        "--dmabuf_src=udmabuf", "--dmabuf_attach=pages",
                        "--rw=write", "--bs=4k", "--size=1m", "--iodepth=1",
                        "--verify=crc32c", "--do_verify=1"],
        "bracket_qd32": ["--name=bracket_qd32", "--filename=/dev/nullb0",
                         "--dmabuf_src=udmabuf", "--dmabuf_attach=pages",
                         "--rw=randwrite", "--bs=4k", "--size=4m",
                         "--iodepth=32", "--verify=crc32c"],
        "bracket_slots": ["--name=bracket_slots", "--filename=/dev/nullb0",
                          "--dmabuf_src=udmabuf", "--dmabuf_attach=pages",
                          "--rw=randwrite", "--bs=4k", "--size=4m",
                          "--iodepth=32", "--dmabuf_size_max=4k",
                          "--verify=crc32c"],
        "bracket_none": ["--name=bracket_none", "--filename=/dev/nullb0",
                         "--dmabuf_src=udmabuf", "--dmabuf_attach=pages",
                         "--rw=randread", "--bs=4k", "--size=1m",
                         "--iodepth=4"],
        "bracket_none_w": ["--name=bracket_none_w", "--filename=/dev/nullb0",
                           "--dmabuf_src=udmabuf", "--dmabuf_attach=pages",
                           "--rw=randwrite", "--bs=4k", "--size=1m",
                           "--iodepth=4", "--scramble_buffers=0"],
        "bounce_heap": ["--name=bounce_heap", "--filename=/dev/nvme0n1",
                        "--dmabuf_src=heap", "--dmabuf_attach=bounce",
                        "--rw=randwrite", "--bs=8k", "--size=2m",
                        "--iodepth=8", "--verify=crc32c",
                        "--dmabuf_cpu_sync=0"],
        "bounce_drm": ["--name=bounce_drm", "--filename=/dev/nvme0n1",
                       "--dmabuf_src=drm", "--dmabuf_attach=bounce",
                       "--rw=randrw", "--bs=16k", "--size=2m",
                       "--iodepth=4", "--verify=crc32c",
                       "--dmabuf_cpu_sync=0"],
        "bounce_fio": ["--name=bounce_fio", "--filename=/dev/nvme0n1",
                       "--dmabuf_src=drm", "--dmabuf_attach=bounce",
                       "--rw=randwrite", "--bs=16k", "--size=2m",
                       "--iodepth=4", "--verify=crc32c"],
    }


def guest_script(out):
    q = shlex.quote
    lines = ["#!/bin/sh", f"D={q(str(out))}", 'cd "$D" || exit 1',
             f"export LD_LIBRARY_PATH={q(str(BUILD))}",
             "ln -sfn /dev/nvme0n1 /tmp/dbu-target"]
    for name, args in cases(out).items():
        argv = COMMON + [f"--dmabuf_report={out}/{name}.jsonl"] + args
        lines.append(f"fio {' '.join(q(a) for a in argv)} "
                     f'>"$D/{name}.json" 2>"$D/{name}.err"; '
                     f'echo $? >"$D/{name}.rc"')
    return "\n".join(lines) + "\n"


@pytest.fixture(scope="module")
def out(rig, tmp_path_factory):
    d = tmp_path_factory.mktemp("reliability")
    (d / "job.sh").write_text(guest_script(d))
    rc, output = rig.run(["/bin/sh", str(d / "job.sh")], rw=(str(d),),
                         timeout=600, stream=False)
    assert rc == 0, output[-3000:]
    return d


def result(out, name):
    rc = int((out / f"{name}.rc").read_text())
    err = (out / f"{name}.err").read_text()
    [row] = read_reports(out / f"{name}.jsonl")
    return rc, err, row


def ios(out, name):
    job = json.loads((out / f"{name}.json").read_text())["jobs"][0]
    return job["read"]["total_ios"] + job["write"]["total_ios"]


def test_target_labels_are_the_targets_at_start(out):
    rc, err, row = result(out, "labels")
    assert rc == 0, err
    assert (row["target"], row["target_driver"]) == ("/tmp/dbu-target",
                                                     "nvme")
    assert "target=/tmp/dbu-target driver=nvme " in err


def test_stuck_cpu_access_sync_ends_with_its_diagnostic(out):
    rc, err, row = result(out, "sync_stall")
    assert rc == 1, err
    msg = ("DMA_BUF_IOCTL_SYNC: Connection timed out (ETIMEDOUT). "
           "DMA_BUF_IOCTL_SYNC (start) on slot 0 did not return within 2 s "
           "(dmabuf_watchdog=2): the dma-buf holds a fence that is never "
           "signalled")
    assert "fio: dmabuf_uring: " + msg in err
    assert row["errors"][0].startswith(msg) and row["result"] == "failed"
    assert row["ios"] == 0


def test_qd1_brackets_every_request(out):
    rc, err, row = result(out, "bracket_qd1")
    assert rc == 0, err
    n = ios(out, "bracket_qd1")
    assert n == 512 and row["ios"] == n
    # START at allocation, END + START around each request, END at the end
    assert row["cpu_syncs"] == 2 * n + 2
    assert row["cpu_unbracketed"] == 0


def test_shared_slot_is_not_handed_back_while_the_device_owns_it(out):
    rc, err, row = result(out, "bracket_qd32")
    assert rc == 0, err
    n = ios(out, "bracket_qd32")
    assert row["ios"] == n and len(row["buffers"]) == 1
    assert row["cpu_syncs"] < 2 * n + 2
    assert 0 < row["cpu_unbracketed"] < n


def test_one_slot_per_io_u_brackets_every_request(out):
    rc, err, row = result(out, "bracket_slots")
    assert rc == 0, err
    n = ios(out, "bracket_slots")
    assert row["ios"] == n and len(row["buffers"]) >= 32
    assert row["cpu_unbracketed"] == 0
    assert row["cpu_syncs"] == 2 * n + 2 * len(row["buffers"])


@pytest.mark.parametrize("name", ["bracket_none", "bracket_none_w"])
def test_no_bracket_per_io_when_fio_does_not_look(out, name):
    # No verify, nothing filled per write: START at allocation, END once
    # before the first I/O; the device keeps the slot from then on.
    rc, err, row = result(out, name)
    assert rc == 0, err
    assert row["ios"] == ios(out, name) == 256 and len(row["buffers"]) == 1
    assert row["cpu_syncs"] == 2 and row["cpu_unbracketed"] == 0


@pytest.mark.parametrize("name", ["bounce_heap", "bounce_drm"])
def test_bounce_without_cpu_sync_brackets_each_copy(out, name):
    rc, err, row = result(out, name)
    assert rc == 0, err
    n = ios(out, name)
    assert row["ios"] == n and row["bounce_bytes"] > 0
    slots = len(row["buffers"])
    # START at allocation and END at attach per slot, START + END per copy
    assert row["cpu_syncs"] == 2 * slots + 2 * n


def test_bounce_with_cpu_sync_keeps_the_views_in_cpu_access(out):
    rc, err, row = result(out, "bounce_fio")
    assert rc == 0, err
    assert row["ios"] == ios(out, "bounce_fio") and row["bounce_bytes"] > 0
    # START at allocation, END at teardown: fio and the copies in between
    assert row["cpu_syncs"] == 2 * len(row["buffers"])
