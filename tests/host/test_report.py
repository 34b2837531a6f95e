# SPDX-License-Identifier: GPL-2.0-only
"""The per-job report says what really ran (design.md section 6)."""
import os
import subprocess

import pytest

from dbu_test import read_reports, run_fio

pytestmark = [pytest.mark.host]

KEYS = {"job", "jobnum", "engine_version", "fio_version", "kernel", "cmdline",
        "source", "attach", "exporter", "buffers", "first_io_ns", "cpu_view",
        "cpu_sync", "placement", "sqe_ops", "target", "target_driver", "iommu_domain",
        "uapi_probe", "uapi_errno", "ring", "ios", "prio_ios", "eagain_reissues",
        "bounce_bytes", "bounce_ns", "cpu_syncs", "cpu_unbracketed",
        "shadow_copies", "shadow_bytes", "shadow_ns", "shadow_timed", "io_errors",
        "errors_total", "errors", "result"}


@pytest.mark.parametrize("attach", ["pages", "bounce"])
def test_report_contents(target, tmp_path, attach):
    report = tmp_path / "r.json"
    r = run_fio(["--name=rep", "--ioengine=dmabuf_uring",
                 f"--filename={target}", "--dmabuf_src=host",
                 f"--dmabuf_attach={attach}", "--direct=1", "--rw=randrw",
                 "--bs=8k", "--iodepth=4", "--size=2m",
                 f"--dmabuf_report={report}"])
    assert r.returncode == 0, r.stderr
    [row] = read_reports(report)
    assert set(row) == KEYS
    fio_version = subprocess.run(["fio", "--version"], capture_output=True,
                                 text=True).stdout.strip()
    assert row["fio_version"] == fio_version
    assert row["engine_version"].startswith("0.1.0+")
    assert row["kernel"] == os.uname().release
    assert row["cmdline"] == open("/proc/cmdline").read().strip()
    assert (row["job"], row["jobnum"]) == ("rep", 0)
    assert (row["source"], row["attach"], row["exporter"]) == \
        ("host", attach, "host")
    # 4 x 8 KiB buffers plus fio's O_DIRECT alignment padding, page-rounded
    assert row["buffers"] == [40960]
    assert row["first_io_ns"][0] > 0
    assert row["cpu_view"] == "mmap" and row["cpu_syncs"] == 0
    assert row["placement"] == "system RAM (anonymous)"
    assert (row["target"], row["target_driver"], row["iommu_domain"]) == \
        (str(target), "none", "none")
    assert row["uapi_probe"] == "not-run"
    assert row["ring"] == {"iodepth": 4, "hipri": False,
                           "sqthread_poll": False, "registerfiles": False,
                           "nowait": False, "uncached": False,
                           "registered_ring": False, "force_async": 0}
    assert row["prio_ios"] == 0
    assert row["ios"] == 256 and row["eagain_reissues"] == 0
    if attach == "bounce":
        assert row["bounce_bytes"] == 2 << 20 and row["bounce_ns"] > 0
    else:
        assert row["bounce_bytes"] == 0
    assert row["errors"] == [] and row["result"] == "ok"
    assert (row["io_errors"], row["errors_total"]) == (0, 0)
    summary = (f"dmabuf_uring: rep: source=host exporter=host attach={attach} "
               f"cpu_view=mmap buffers=1x40960 target={target} driver=none "
               "iommu=none uapi_probe=not-run ios=256 eagain_reissues=0 "
               f"bounce_bytes={2 << 20 if attach == 'bounce' else 0}\n")
    assert summary in r.stderr


def test_report_one_line_per_job(target, tmp_path):
    report = tmp_path / "r.json"
    jobfile = tmp_path / "two.fio"
    jobfile.write_text(f"""[global]
ioengine=dmabuf_uring
filename={target}
dmabuf_src=host
rw=read
bs=4k
size=1m
dmabuf_report={report}
[a]
dmabuf_attach=pages
[b]
dmabuf_attach=bounce
numjobs=2
""")
    r = run_fio([jobfile])
    assert r.returncode == 0, r.stderr
    rows = read_reports(report)
    assert sorted((x["job"], x["attach"]) for x in rows) == \
        [("a", "pages"), ("b", "bounce"), ("b", "bounce")]
