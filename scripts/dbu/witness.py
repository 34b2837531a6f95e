"""The device memory's independent witness: the host file behind the rig's
--peer-bar, compared byte for byte with the NVMe.

A job that moves fio's verify blocks (verify=crc32c: each block starts with
fio's header, which names the block's length and device offset) between the
NVMe and the peer's BAR leaves in the BAR the last block each of its buffers
carried. Read through the host file (in the guest: the same path over 9p,
never through the BAR), every such block must equal the NVMe's bytes at the
offset its header names, whichever way the data went. Buffers that never
carried a block (the poison) are skipped; a run whose BAR holds no block at
all fails, since its data never reached (or never came from) device memory.

Python API: compare(file, length, device) -> Witness.
CLI: dmabuf-bench witness FILE LENGTH DEVICE (exit 0: agree, 1: not, 2: error).
"""

import argparse
import mmap
import os
import struct
import sys
from dataclasses import dataclass

VERIFY_MAGIC = 0xACCA
# fio's struct verify_header: magic, verify_type, len, rand_seed, offset, ...
HEADER = struct.Struct("<HHIQQ")
STEP = 4096  # buffers are page aligned: where to look for the next block


@dataclass
class Witness:
    blocks: int = 0
    bytes: int = 0
    bad: str = ""  # the first disagreement, "" when none

    @property
    def ok(self):
        return self.blocks > 0 and not self.bad

    def summary(self):
        if self.bad:
            return f"MISMATCH: {self.bad}"
        if not self.blocks:
            return ("no fio block in the device memory: the data never "
                    "reached it (or never came from it)")
        return f"{self.blocks} blocks, {self.bytes} bytes agree with the NVMe"


def blocks(mem):
    """(position, length, device offset) of each fio verify block in mem."""
    pos = 0
    while pos + HEADER.size <= len(mem):
        magic, _, length, _, offset = HEADER.unpack_from(mem, pos)
        if magic == VERIFY_MAGIC and length and length % 512 == 0 \
                and pos + length <= len(mem):
            yield pos, length, offset
            pos += length
        else:
            pos += STEP


def read_direct(path, offset, length):
    """length bytes of a block device at offset, O_DIRECT (not the cache)."""
    start = offset // STEP * STEP
    span = (offset + length - start + STEP - 1) // STEP * STEP
    buf = mmap.mmap(-1, span)
    fd = os.open(path, os.O_RDONLY | os.O_DIRECT)
    try:
        got = os.preadv(fd, [buf], start)
    finally:
        os.close(fd)
    return bytes(buf[offset - start:min(offset - start + length, got)])


def _first_diff(a, b):
    for i, (x, y) in enumerate(zip(a, b)):
        if x != y:
            return i
    return min(len(a), len(b))


def compare(file, length, device):
    """The first `length` bytes of the peer's backing file against the NVMe."""
    with open(file, "rb") as f:
        mem = f.read(length)
    w = Witness()
    for pos, n, off in blocks(mem):
        dev = read_direct(device, off, n)
        got = mem[pos:pos + n]
        if got != dev:
            i = _first_diff(got, dev)
            w.bad = (f"BAR offset {pos + i:#x} (block at {pos:#x}, {n} bytes) "
                     f"holds {got[i:i + 4].hex()}, {device} at offset "
                     f"{off + i:#x} holds {dev[i:i + 4].hex() or 'nothing'}")
            return w
        w.blocks += 1
        w.bytes += n
    return w


HELP = "compare fio's blocks in the --peer-bar file with the NVMe"


def add_parser(subparsers):
    p = subparsers.add_parser("witness", help=HELP, description=__doc__,
                              formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("file", metavar="FILE", help="the peer's backing file ($DBU_PEER_FILE)")
    p.add_argument("length", metavar="LENGTH", type=lambda v: int(v, 0),
                   help="bytes from its start the job's buffers covered "
                        "(the report's buffers, summed)")
    p.add_argument("device", metavar="DEVICE", help="the NVMe block device")
    p.set_defaults(func=_cmd_witness)


def _cmd_witness(args):
    try:
        w = compare(args.file, args.length, args.device)
    except OSError as e:
        print(f"dmabuf-bench: witness: {e}", file=sys.stderr)
        return 2
    print(w.summary())
    return 0 if w.ok else 1
