"""The VM rig itself (scripts/dmabuf-bench vm): real QEMU, no mocks.

Each boot costs about 5 s under TCG, so most assertions share one boot.
"""

import os
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
CLI = ["/usr/bin/python3", str(REPO / "scripts" / "dmabuf-bench"), "vm"]

pytestmark = pytest.mark.vm

GUEST_CHECKS = r"""
for d in /dev/nvme0n1 /dev/nullb0 /dev/ram0 /dev/udmabuf /dev/dma_heap/system; do
	[ -e "$d" ] && echo "have $d"
done
ls /dev/dri/card* >/dev/null 2>&1 && echo "have /dev/dri/card"
grep -q ' /host' /proc/mounts || echo "have chroot"
echo "pwd=$(pwd)"
echo "ld=$LD_LIBRARY_PATH"
echo "home=$HOME"
echo "dbu=$DBU_RIG_TEST"
echo "other=${RIG_NOT_PASSED:-unset}"
echo "groups=$(ls /sys/kernel/iommu_groups | wc -l)"
echo cwd-data > from-guest-cwd.txt
echo rw-data > "$1/from-guest-rw.txt"
touch /tmp/tmpfs-ok && echo "have writable /tmp"
printf dbu-null | dd of=/dev/nullb0 bs=512 conv=sync oflag=direct 2>/dev/null
echo "nullb=$(dd if=/dev/nullb0 bs=512 count=1 iflag=direct 2>/dev/null | head -c 8)"
echo to-stderr >&2
exit 3
"""


def vm_cli(args, cwd=None, env=None, timeout=300):
    return subprocess.run(CLI + args, cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=timeout, check=False)


def qemu_of(pid):
    """Command lines of QEMU processes started by the rig run of CLI process pid."""
    found = []
    for proc in Path("/proc").iterdir():
        try:
            cmd = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            continue
        if "qemu-system" in cmd and f"run-{pid}-" in cmd:
            found.append(cmd)
    return found


def test_command_runs_in_guest_with_devices_shares_and_exit_status(rig, tmp_path):
    cwd, rw = tmp_path / "cwd", tmp_path / "rw"
    cwd.mkdir()
    rw.mkdir()
    env = dict(os.environ, DBU_RIG_TEST="passed", RIG_NOT_PASSED="leaked")
    res = vm_cli(["--rw", str(rw), "--", "sh", "-c", GUEST_CHECKS, "sh", str(rw)],
                 cwd=cwd, env=env)
    out = res.stdout
    assert res.returncode == 3, res.stderr
    for dev in ("/dev/nvme0n1", "/dev/nullb0", "/dev/ram0", "/dev/udmabuf",
                "/dev/dma_heap/system", "/dev/dri/card", "chroot", "writable /tmp"):
        assert f"have {dev}\n" in out, out
    assert f"pwd={cwd}\n" in out
    assert f"ld={REPO / 'build'}" in out
    assert "home=/root\n" in out
    assert "dbu=passed\n" in out and "other=unset\n" in out
    assert "groups=0\n" in out  # --iommu off: no vIOMMU
    assert "nullb=dbu-null\n" in out  # null_blk is memory-backed
    assert (cwd / "from-guest-cwd.txt").read_text() == "cwd-data\n"
    assert (rw / "from-guest-rw.txt").read_text() == "rw-data\n"
    assert "to-stderr" in res.stderr and "to-stderr" not in out
    assert "dmabuf-bench: booting (iommu=off" in res.stderr
    assert "dmabuf-bench: powered off after" in res.stderr
    assert "Linux version" not in out + res.stderr  # no boot noise
    assert "@@DBU-" in (REPO / "build" / "vm" / "last-console.log").read_text()


def test_timeout_kills_qemu_and_exits_124(rig, tmp_path):
    proc = subprocess.Popen(CLI + ["--timeout", "12", "--", "sleep", "600"], cwd=tmp_path,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 124, err
    assert "--timeout 12" in err
    assert not qemu_of(proc.pid)


@pytest.mark.parametrize("mode,domain", [("strict", "DMA"), ("lazy", "DMA-FQ"),
                                         ("pt", "identity")])
def test_iommu_mode_sets_nvme_domain_type(rig, mode, domain):
    rc, out = rig.run(["cat", "/sys/class/nvme/nvme0/device/iommu_group/type"],
                      iommu=mode, timeout=300, stream=False)
    assert (rc, out) == (0, f"{domain}\n")


def test_user_kernel_with_modules_dir(rig, tmp_path):
    """--kernel/--modules path, fed with the cached Debian kernel's own files."""
    kern = rig._debian_kernel(float("inf"))  # pylint: disable=protected-access
    mod_root = kern.moddir.parents[2]  # the INSTALL_MOD_PATH-like root
    if kern.moddir.parts[-4] == "usr":
        mod_root = kern.moddir.parents[3]
    res = vm_cli(["--kernel", str(kern.image), "--modules", str(mod_root), "--",
                  "sh", "-c", "uname -r; ls /dev/nvme0n1"], cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    assert res.stdout == f"{kern.version}\n/dev/nvme0n1\n"


def test_bad_kernel_fails_clearly_without_booting(rig, tmp_path):
    junk = tmp_path / "bzImage"
    junk.write_bytes(b"\0" * 4096)
    cases = [(["--kernel", str(tmp_path / "missing")], "No such file"),
             (["--kernel", str(junk)], "not a bzImage"),
             (["--modules", str(tmp_path)], "--modules needs --kernel")]
    for args, message in cases:
        res = vm_cli(args + ["--", "true"], cwd=tmp_path)
        assert res.returncode == 2, res.stderr
        assert message in res.stderr and "booting" not in res.stderr
