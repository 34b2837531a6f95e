# SPDX-License-Identifier: GPL-2.0-only
"""The device-memory witness (`dmabuf-bench witness`) on real fio blocks.

fio (psync, verify=crc32c) writes stamped blocks to a target file; a "BAR
file" is laid out as a job's buffers leave it (the last block of each
buffer, poison around them). The witness must agree with the target, name
the first byte where one mutated block differs, and refuse a BAR that holds
no block at all. Also the rig's refusals of a bad --peer-bar, made before
anything boots.
"""
import subprocess

import pytest

from pipeline_util import bench, need_host_tools

pytestmark = [pytest.mark.host, pytest.mark.nosanitize]

BS = 128 << 10


@pytest.fixture
def target(tmp_path):
    need_host_tools()
    dev = tmp_path / "nvme.img"
    dev.write_bytes(b"\0" * (1 << 20))
    p = subprocess.run(["fio", "--name=seed", "--ioengine=psync", f"--filename={dev}",
                        "--direct=1", "--rw=write", f"--bs={BS}", "--size=1m",
                        "--verify=crc32c", "--do_verify=0", "--verify_state_save=0"],
                       capture_output=True, text=True, timeout=60, cwd=tmp_path)
    assert p.returncode == 0, p.stderr
    return dev


def bar_with(dev, path, blocks):
    """A 1 MiB BAR: the device's blocks at the given BAR slots, else poison."""
    data = dev.read_bytes()
    mem = bytearray(b"\xde\xad\xbe\xef" * (1 << 18))
    for slot, block in blocks:
        mem[slot * BS:(slot + 1) * BS] = data[block * BS:(block + 1) * BS]
    path.write_bytes(mem)
    return path


def witness(bar, dev):
    return bench("witness", bar, str(1 << 20), dev)


def test_blocks_in_other_slots_agree(target, tmp_path):
    bar = bar_with(target, tmp_path / "bar", [(0, 5), (3, 1), (7, 7)])
    p = witness(bar, target)
    assert p.returncode == 0, p.stderr
    assert p.stdout == "3 blocks, 393216 bytes agree with the NVMe\n"


def test_one_flipped_byte_is_named(target, tmp_path):
    bar = bar_with(target, tmp_path / "bar", [(0, 2), (1, 3)])
    mem = bytearray(bar.read_bytes())
    mem[BS + 4096 + 9] ^= 0xff
    bar.write_bytes(mem)
    p = witness(bar, target)
    assert p.returncode == 1
    pos, off = BS + 4096 + 9, 3 * BS + 4096 + 9
    assert p.stdout.startswith(f"MISMATCH: BAR offset {pos:#x} (block at {BS:#x}, "
                               f"{BS} bytes) holds "), p.stdout
    assert f", {target} at offset {off:#x} holds " in p.stdout


def test_a_bar_without_blocks_fails(target, tmp_path):
    p = witness(bar_with(target, tmp_path / "bar", []), target)
    assert p.returncode == 1
    assert p.stdout == ("no fio block in the device memory: the data never "
                        "reached it (or never came from it)\n")


def test_unreadable_file_is_exit_2(target, tmp_path):
    p = witness(tmp_path / "missing", target)
    assert p.returncode == 2
    assert p.stderr.startswith("dmabuf-bench: witness: [Errno 2] No such file")


@pytest.mark.parametrize("spec,msg", [
    ("15m", "--peer-bar 15m: a PCI BAR is a power of two; give 1m or more (16m, 64m, ...)"),
    ("512k", "--peer-bar 512k: a PCI BAR is a power of two; give 1m or more (16m, 64m, ...)"),
    ("big:/tmp/x", "--peer-bar big:/tmp/x: expected SIZE[:FILE], SIZE like 16m, 64m or 1g"),
])
def test_rig_refuses_a_bad_peer_bar_before_booting(spec, msg):
    p = bench("vm", "--peer-bar", spec, "--", "true")
    assert p.returncode == 2
    assert f"dmabuf-bench: error: {msg}\n" in p.stderr, p.stderr


def test_rig_refuses_debian_with_kernel(tmp_path):
    p = bench("vm", "--debian", "sid", "--kernel", str(tmp_path / "bz"), "--", "true")
    assert p.returncode == 2
    assert "dmabuf-bench: error: --debian and --kernel do not combine\n" in p.stderr
