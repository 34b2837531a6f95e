# SPDX-License-Identifier: GPL-2.0-only
"""host memory through pages and bounce: data verified byte for byte."""
import pytest

from dbu_test import read_reports, run_fio

pytestmark = [pytest.mark.host]


def job(target, report, attach, *extra):
    return ["--name=io", "--ioengine=dmabuf_uring", f"--filename={target}",
            "--dmabuf_src=host", f"--dmabuf_attach={attach}", "--direct=1",
            "--size=8m", f"--dmabuf_report={report}", *extra]


def check(r, report, attach, jobs=1):
    assert r.returncode == 0, r.stdout + r.stderr
    assert "verify" not in r.stderr.lower() or "bad" not in r.stderr.lower()
    rows = read_reports(report)
    assert len(rows) == jobs
    for row in rows:
        assert (row["source"], row["attach"], row["exporter"]) == \
            ("host", attach, "host")
        assert row["errors"] == [] and row["ios"] > 0
        assert (row["bounce_bytes"] > 0) == (attach == "bounce")
    return rows


@pytest.mark.parametrize("attach", ["pages", "bounce"])
@pytest.mark.parametrize("bs", ["4k", "128k"])
@pytest.mark.parametrize("qd", [1, 32])
@pytest.mark.parametrize("rw", ["write", "randwrite", "randrw"])
def test_verify(target, tmp_path, attach, bs, qd, rw):
    report = tmp_path / "r.json"
    r = run_fio(job(target, report, attach, f"--rw={rw}", f"--bs={bs}",
                    f"--iodepth={qd}", "--verify=crc32c",
                    "--verify_fatal=1"))
    check(r, report, attach)


@pytest.mark.parametrize("attach", ["pages", "bounce"])
@pytest.mark.parametrize("mode", ["--thread=1", "--thread=0"])
def test_numjobs(target, tmp_path, attach, mode):
    report = tmp_path / "r.json"
    r = run_fio(job(target, report, attach, "--rw=randrw", "--bs=16k",
                    "--iodepth=8", "--verify=crc32c", "--verify_fatal=1",
                    "--numjobs=2", "--size=4m", "--offset_increment=4m",
                    mode))
    rows = check(r, report, attach, jobs=2)
    assert sorted(row["jobnum"] for row in rows) == [0, 1]


@pytest.mark.parametrize("attach", ["pages", "bounce"])
def test_read_direction(target, tmp_path, attach):
    """Reads alone: fio's psync engine writes offset-stamped blocks, the
    engine reads them back; a read that moved no data leaves a block with
    the wrong offset in the buffer and fails verification."""
    w = run_fio(["--name=w", "--ioengine=psync", f"--filename={target}",
                 "--rw=write", "--bs=64k", "--size=8m", "--verify=crc32c",
                 "--do_verify=0"])
    assert w.returncode == 0, w.stderr
    report = tmp_path / "r.json"
    r = run_fio(job(target, report, attach, "--rw=randread", "--bs=64k",
                    "--iodepth=16", "--verify=crc32c", "--verify_only=1",
                    "--verify_fatal=1"))
    check(r, report, attach)


@pytest.mark.parametrize("attach", ["pages", "bounce"])
def test_write_direction(target, tmp_path, attach):
    """Writes alone: the engine writes, fio's psync engine is the witness."""
    report = tmp_path / "r.json"
    r = run_fio(job(target, report, attach, "--rw=randwrite", "--bs=32k",
                    "--iodepth=16", "--verify=crc32c", "--do_verify=0"))
    check(r, report, attach)
    v = run_fio(["--name=w", "--ioengine=psync", f"--filename={target}",
                 "--rw=randwrite", "--bs=32k", "--size=8m",
                 "--verify=crc32c", "--verify_only=1", "--verify_fatal=1"])
    assert v.returncode == 0, v.stdout + v.stderr


def test_ring_knobs(target, tmp_path):
    report = tmp_path / "r.json"
    r = run_fio(job(target, report, "pages", "--rw=randrw", "--bs=4k",
                    "--iodepth=16", "--verify=crc32c", "--registerfiles",
                    "--force_async=4", "--iodepth_batch_submit=4",
                    "--iodepth_batch_complete_min=2"))
    rows = check(r, report, "pages")
    assert rows[0]["ring"]["registerfiles"] is True
    assert rows[0]["ring"]["force_async"] == 4


def test_sqthread_poll(target, tmp_path):
    report = tmp_path / "r.json"
    r = run_fio(job(target, report, "bounce", "--rw=randrw", "--bs=4k",
                    "--iodepth=8", "--verify=crc32c", "--sqthread_poll",
                    "--sqthread_poll_cpu=0"))
    rows = check(r, report, "bounce")
    assert rows[0]["ring"]["sqthread_poll"] is True
    assert rows[0]["ring"]["registerfiles"] is True


def test_fsync_and_trim_pass_through(target, tmp_path):
    report = tmp_path / "r.json"
    r = run_fio(job(target, report, "pages", "--rw=randwrite", "--bs=4k",
                    "--iodepth=4", "--fsync=8"))
    check(r, report, "pages")
    assert "sync (nsec)" in r.stdout or "fsync" in r.stdout


def test_several_slots(target, tmp_path):
    """A buffer area larger than dmabuf_size_max becomes several slots."""
    report = tmp_path / "r.json"
    r = run_fio(job(target, report, "pages", "--rw=randrw", "--bs=64k",
                    "--iodepth=32", "--verify=crc32c",
                    "--dmabuf_size_max=256k"))
    rows = check(r, report, "pages")
    assert len(rows[0]["buffers"]) > 1
    assert all(b <= 256 * 1024 for b in rows[0]["buffers"])
