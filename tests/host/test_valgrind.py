# SPDX-License-Identifier: GPL-2.0-only
"""host tier: fio with the engine under valgrind's memcheck.

A short verified run (dmabuf_src=host, pages and bounce, thread and process
mode) under `valgrind --error-exitcode=99 --track-fds=yes --leak-check=full`
with tests/valgrind.supp, which suppresses fio-internal reports only (each
entry says why it is not ours).  The test fails on valgrind's exit status and,
naming the report, on any error or leak record, or any fd open at exit, whose
stack has a frame in fio-dmabuf_uring.so or one of the engine's sources.
Skipped against the ASan build (DBU_BUILD_DIR=build-asan): the two do not mix.
"""
import re
import shutil
import subprocess

import pytest

from dbu_test import REPO, fio_env, read_reports

pytestmark = [pytest.mark.host]

SUPP = REPO / "tests" / "valgrind.supp"
ENGINE_FRAME = re.compile(
    r"fio-dmabuf_uring\.so|\((?:%s)\.c:\d+\)" % "|".join(
        re.escape(p.stem) for p in (REPO / "engines").glob("*.c")))


def records(text):
    """valgrind's reports, one string each (blank '==PID== ' lines part)."""
    out, cur = [], []
    for line in text.splitlines():
        m = re.match(r"==\d+== ?(.*)", line)
        if not m:
            continue
        if m.group(1).strip():
            cur.append(m.group(1))
        elif cur:
            out.append("\n".join(cur))
            cur = []
    if cur:
        out.append("\n".join(cur))
    return out


@pytest.mark.nosanitize  # valgrind cannot run the ASan build
@pytest.mark.skipif(not shutil.which("valgrind"),
                    reason="valgrind missing (apt-get install valgrind)")
@pytest.mark.parametrize("mode", ["1", "0"], ids=["thread", "process"])
@pytest.mark.parametrize("attach", ["pages", "bounce"])
def test_memcheck(tmp_path, attach, mode):
    target = tmp_path / "t.img"
    with open(target, "wb") as f:
        f.truncate(4 << 20)
    report = tmp_path / "r.jsonl"
    log = tmp_path / "vg.%p.log"
    vg = ["valgrind", "--error-exitcode=99", "--track-fds=yes",
          "--leak-check=full", "--num-callers=40", f"--suppressions={SUPP}",
          f"--log-file={log}"]
    r = subprocess.run(vg + ["fio", "--name=vg", "--ioengine=dmabuf_uring", "--dmabuf_src=host",
                 f"--dmabuf_attach={attach}", f"--filename={target}",
                 "--direct=1", "--size=2m", "--rw=randrw", "--bsrange=4k-64k",
                 "--iodepth=8", "--verify=crc32c", "--verify_fatal=1",
                 f"--thread={mode}", f"--dmabuf_report={report}"],
                       env=fio_env(), cwd=tmp_path, timeout=300,
                       capture_output=True, text=True)
    logs = sorted(tmp_path.glob("vg.*.log"))
    text = "\n".join(p.read_text() for p in logs)
    ours = [rec for rec in records(text) if ENGINE_FRAME.search(rec)
            and not rec.startswith(("Command:", "Memcheck,"))]
    assert not ours, ("valgrind reports with engine frames:\n\n"
                      + "\n\n".join(ours))
    assert r.returncode == 0, (f"fio under valgrind exit {r.returncode}\n"
                               f"{r.stderr[-2000:]}\n{text[-6000:]}")
    rows = read_reports(report)
    assert len(rows) == 1 and rows[0]["result"] == "ok", rows
    assert "ERROR SUMMARY: 0 errors" in text, text[-4000:]
    # the engine really ran under valgrind (each process logs its summary)
    assert len(logs) == (1 if mode == "1" else 2), logs
