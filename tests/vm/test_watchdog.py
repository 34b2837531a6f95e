# SPDX-License-Identifier: GPL-2.0-only
"""The completion watchdog: a device that does not complete in time ends
the job with a diagnostic and exit 1, never a hung fio.  The stuck device
is a null_blk made through configfs with an 8 s completion delay (the
kernel's partition scan of it takes most of this test's minute or two)."""
import pytest

from dbu_test import read_reports

pytestmark = pytest.mark.vm

GUEST = r"""
out=$1
mountpoint -q /sys/kernel/config || mount -t configfs none /sys/kernel/config
d=/sys/kernel/config/nullb/slow
mkdir $d && echo 2 >$d/irqmode && echo 8000000000 >$d/completion_nsec &&
	echo 64 >$d/size && echo 1 >$d/power || exit 90
start=$(date +%s)
fio --name=wd --ioengine=dmabuf_uring --dmabuf_src=host \
	--dmabuf_attach=pages --filename=/dev/slow --allow_file_create=0 \
	--direct=1 --rw=read --bs=4k --size=1m --iodepth=4 \
	--dmabuf_watchdog=2 --dmabuf_report=$out/wd.report \
	>$out/wd.out 2>$out/wd.err
echo "$? $(( $(date +%s) - start ))" >$out/rc.txt
echo 0 >$d/power; rmdir $d
"""


def test_watchdog_ends_a_stuck_job(rig, tmp_path):
    (tmp_path / "job.sh").write_text(GUEST)
    rc, output = rig.run(["/bin/sh", str(tmp_path / "job.sh"),
                          str(tmp_path)], rw=(str(tmp_path),), timeout=400,
                         stream=False)
    assert rc == 0, output
    fio_rc, seconds = map(int, (tmp_path / "rc.txt").read_text().split())
    err = (tmp_path / "wd.err").read_text()
    assert fio_rc == 1, err
    # 2 s watchdog, then fio's exit waits out the throttled requests
    assert seconds < 60
    msg = ("waiting for completions: Connection timed out (ETIMEDOUT). "
           "nothing completed for ")
    assert "fio: dmabuf_uring: " + msg in err
    assert "(dmabuf_watchdog=2): 4 request(s) in flight, 0 completed " \
        "before, 0 -EAGAIN reissue(s) so far. The device or the kernel's " \
        "dma-buf path is stuck; see dmesg.\n" in err
    [row] = read_reports(tmp_path / "wd.report")
    assert row["errors"][0].startswith(msg) and row["ios"] == 0
