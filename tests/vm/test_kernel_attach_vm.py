# SPDX-License-Identifier: GPL-2.0-only
"""dmabuf_attach=kernel in the QEMU rig's stock Debian kernel (no series):
every dma-buf source fails at job start with "series absent", and the
report says uapi_probe=absent.  All cases share one boot."""
import json
import shlex

import pytest

from dbu_ctest import compile_c, parse_verdict
from dbu_test import read_reports

pytestmark = pytest.mark.vm

SOURCES = ("udmabuf", "heap", "drm")

GUEST = r"""
out=$1; shift
for src in "$@"; do
	fio --name=kernel-$src --ioengine=dmabuf_uring --filename=/dev/nvme0n1 \
		--direct=1 --size=4m --bs=4k --rw=randread --dmabuf_src=$src \
		--dmabuf_attach=kernel --dmabuf_report=$out/$src.report \
		--output-format=json >$out/$src.json 2>$out/$src.err
	echo "$src rc=$?" >>$out/rc.txt
done
$out/probe_verdict /dev/nvme0n1 >$out/probe.out 2>&1
echo "probe rc=$?" >>$out/rc.txt
$out/kernel_errors /dev/nvme0n1 >$out/kerr.out 2>&1
echo "kernel_errors rc=$?" >>$out/rc.txt
uname -r >$out/uname.txt
"""


@pytest.fixture(scope="module")
def guest(rig, tmp_path_factory):
    out = tmp_path_factory.mktemp("kattach")
    for prog in ("probe_verdict", "kernel_errors"):
        compile_c(prog, out)
    (out / "job.sh").write_text(GUEST)
    rc, output = rig.run(["/bin/sh", str(out / "job.sh"), str(out),
                          *SOURCES], rw=(str(out),), timeout=600,
                         stream=False)
    assert rc == 0, output
    rcs = dict(line.split(" rc=") for line in
               (out / "rc.txt").read_text().splitlines())
    return out, {k: int(v) for k, v in rcs.items()}, \
        (out / "uname.txt").read_text().strip()


def absent_line(release):
    return ("fio: dmabuf_uring: dmabuf_attach=kernel: Invalid argument "
            "(EINVAL). the kernel lacks the io_uring dma-buf registration "
            "series (series absent: uapi_probe=absent; kernel "
            f"{release} answers EINVAL to IORING_REGISTER_BUFFERS_UPDATE "
            "with IORING_RSRC_UPDATE_EXTENDED, a flag it does not know). "
            "dmabuf_attach=kernel needs a kernel carrying Pavel Begunkov's "
            "\"Add dmabuf read/write via io_uring\" (v3 or later). Try "
            "dmabuf_attach=pages (dmabuf_src=udmabuf or host) or "
            "dmabuf_attach=bounce.")


@pytest.mark.parametrize("src", SOURCES)
def test_kernel_attach_fails_at_start_with_series_absent(guest, src):
    out, rcs, release = guest
    err = (out / f"{src}.err").read_text()
    assert rcs[src] == 1, err
    assert absent_line(release) in err.splitlines(), err
    row, = read_reports(out / f"{src}.report")
    assert (row["source"], row["attach"]) == (src, "kernel")
    assert (row["uapi_probe"], row["uapi_errno"]) == ("absent", 22)
    assert row["kernel"] == release
    # refused before any memory was made or any I/O went out
    assert row["buffers"] == [] and row["ios"] == 0
    assert row["errors"] == [absent_line(release)[len("fio: dmabuf_uring: "):]]
    text = (out / f"{src}.json").read_text()   # fio's "fio: pid=" line first
    job = json.loads(text[text.index("{"):])["jobs"][0]
    assert job["error"] != 0


def test_probe_with_the_nvme_target_says_absent(guest):
    out, rcs, release = guest
    text = (out / "probe.out").read_text()
    assert rcs["probe"] == 0, text
    v = parse_verdict(text)
    assert (v["verdict"], v["errno"]) == ("absent", "EINVAL")
    assert "series absent" in v["message"]


def test_error_program_skips_without_the_series(guest):
    out, rcs, _ = guest
    text = (out / "kerr.out").read_text()
    assert rcs["kernel_errors"] == 77, text
    assert shlex.split(text.splitlines()[-1])[0] == "skip:"
    assert "registration refused (EINVAL)" in text
