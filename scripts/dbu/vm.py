"""The QEMU VM rig: run one command in a throw-away guest.

The guest boots a Debian kernel (or a user-built one) with a busybox initramfs,
mounts the host's / read-only over virtio-9p and runs the command through
`chroot /host` with the caller's working directory shared read-write, so the
project's freshly built fio and engine run with the host's exact libraries.
Devices: /dev/nvme0n1 (emulated NVMe on a fresh sparse image), /dev/nullb0,
/dev/ram0, /dev/udmabuf, /dev/dma_heap/system, vgem's /dev/dri/card*.

Deterministic mode (deterministic=True, --deterministic): single-threaded TCG
with `-icount shift=0,sleep=off`, so the guest's clock counts instructions
(one virtual ns = one guest instruction) and idle time is skipped: a figure
is the instruction cost of the CPU path, repeatable across boots
(docs/deterministic.md).

Python API: run(command, ...) -> (exit status, output); ensure_rig().
CLI: dmabuf-bench vm [options] -- COMMAND...
"""

import argparse
import contextlib
import ctypes
import fcntl
import gzip
import hashlib
import lzma
import os
import re
import secrets
import selectors
import shlex
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
VM_DIR = REPO / "build" / "vm"
GUEST_DIR = REPO / "scripts" / "vm"
QEMU = "qemu-system-x86_64"
BUSYBOX = "/bin/busybox"

SUITE = "trixie"
# sid's kernel exports PCI BARs as dma-bufs (CONFIG_VFIO_PCI_DMABUF): the
# default with a --peer-bar.
SUITES = ("trixie", "sid")
PEER_SUITE = "sid"
KERNEL_META = "linux-image-amd64"


def _apt_source(suite):
    return ("deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] "
            f"http://deb.debian.org/debian {suite} main\n")


# Modules the rig loads (their dependencies are resolved from .modinfo).
RIG_MODULES = ("nvme", "vgem", "null_blk", "brd", "9pnet_virtio", "9p")
# Loaded only in a boot with a --peer-bar (/peer.list), where the kernel has them.
PEER_MODULES = ("vfio_iommu_type1", "vfio_pci")
MODULE_ARGS = {"brd": "rd_nr=1 rd_size=131072", "null_blk": "nr_devices=1 gb=1"}
MEMORY_BACKED_ARG = "memory_backed=1"

IOMMU_MODES = {
    "off": "",
    "strict": "intel_iommu=on iommu.strict=1",
    "lazy": "intel_iommu=on iommu.strict=0",
    "pt": "intel_iommu=on iommu=pt",
}
BASE_APPEND = "console=ttyS0 panic=-1 quiet udmabuf.size_limit_mb=512"
# Under multi-threaded TCG, the kernel flipping the sched_clock static key
# (TSC judged stable at late init, or unstable later by the watchdog) oopses on
# an int3 in about 1 boot in 10. tsc=unstable avoids the flip: 0 in 30 boots.
# Cost: the guest's clocksource is hpet (a clock read ~6 us instead of ~2 us).
TCG_APPEND = "tsc=unstable"
# Deterministic mode: the guest's clock counts its instructions. With
# sleep=off idle time is skipped: right for a CPU that never waits for the
# host (null_blk). A guest waiting for the emulated NVMe, which completes in
# host time, would jump to its next timer at every wait; "sleep" keeps the
# instruction clock but lets waits take host time (not deterministic).
ICOUNT = {True: "shift=0,sleep=off", "sleep": "shift=0,sleep=on"}
# What results record as `platform` for a run in each mode.
PLATFORM = {False: "vm-tcg", True: "vm-icount", "sleep": "vm-icount-waits"}
# Guest devices that complete on the CPU, never waiting for the host.
CPU_TARGETS = ("/dev/nullb0", "/dev/ram0")


def icount_mode(deterministic, target):
    """The `deterministic` argument of run() for a benchmark on a guest
    device. None (the default of run and overhead) picks icount on a device
    of CPU_TARGETS and multi-threaded TCG elsewhere: on the emulated NVMe
    icount repeats nothing and, on a 2-core host, stalls its QD 128 queues
    past the watchdog. Asked for there, icount keeps host-time waits."""
    if deterministic is None:
        return target in CPU_TARGETS
    if deterministic and target not in CPU_TARGETS:
        progress(f"{target} completes in host time: the guest counts "
                 f"instructions but waits in host time ({PLATFORM['sleep']}, "
                 f"not repeatable; repeatable figures need --target "
                 f"{CPU_TARGETS[0]})")
        return "sleep"
    return deterministic


MSIZE = 512000
# Set by job.sh for the command: the peer's and the NVMe's PCI addresses.
GUEST_FOUND = ("DBU_PEER_BDF", "DBU_NVME_BDF", "DBU_PEER_CMB_BDF")
PASS_ENV = ("TERM", "PYTHONUNBUFFERED")
PASS_ENV_PREFIXES = ("DBU_", "FIO_")
EXIT_TIMEOUT = 124
EXIT_NO_STATUS = 125
# A guest that dies before the command started (e.g. a TCG oops while the
# kernel patches its code, see TCG_APPEND) is booted once more; the command
# has not run, so this is safe.
BOOT_ATTEMPTS = 2
FORMAT = "2"  # bump when the base initramfs layout changes

# The device-memory peer (--peer-bar): QEMU's ivshmem-plain, whose BAR2 is
# a host file. Linux's P2P check (pci_p2pdma_distance) passes between
# devices on different root ports only under a whitelisted host bridge:
# TCG's "max" CPU is AMD family 15, and family 23 (Zen) is the whitelist's
# rule, so a peer boot says family=23. "switch" puts the NVMe and the peer
# behind one emulated x3130 PCIe switch instead: Linux then maps P2P by bus
# address, which QEMU does not route inside the switch when intel-iommu
# translates (the silent no-op the verify chain must catch).
# ivshmem (1af4:1110, found by job.sh) at 0000:00:04.0 on the root bus
PEER_ADDR = "0x4"
# --peer-cmb: a second NVMe controller, found in the guest by its serial.
PEER_CMB_SERIAL = "dbu-cmb"
PEER_CMB_ADDR = "0x5"
# "unlisted": the root bus with TCG's own CPU (AMD family 15), whose host
# bridge is not whitelisted: Linux refuses P2P (the EINVAL of the first
# kernel-attach I/O).
PEER_TOPOLOGIES = ("root", "switch", "unlisted")
PEER_CPU = "max,family=23"


class RigError(Exception):
    """The rig cannot run: a missing tool, a failed download, a bad argument."""


class RigTimeout(Exception):
    """The run went past its --timeout."""


def progress(msg):
    print(f"dmabuf-bench: {msg}", file=sys.stderr, flush=True)


# ---------------------------------------------------------------- public API

def run(command: list[str], *, iommu: str = "off", kernel: str | None = None,
        modules: str | None = None, timeout: float = 900, append: str = "",
        rw=(), mem_mb: int = 2048, disk_mb: int = 256,
        stream: bool = True, env: dict | None = None,
        deterministic: bool = False, peer_bar: str | None = None,
        peer_topology: str = "root", nvme_cmb_mb: int = 0, peer_cmb_mb: int = 0,
        debian: str | None = None) -> tuple[int, str]:
    """Boot the rig, run `command` in the guest; return (exit status, output).

    peer_bar: "SIZE[:FILE]", an ivshmem BAR of SIZE bytes whose memory is
    FILE on the host (see Peer), bound to vfio-pci in the guest; the command
    gets DBU_PEER_BDF, DBU_PEER_FILE and DBU_PEER_SIZE. peer_topology:
    "root" (root bus, CPU family 23) or "switch" (one x3130 switch).
    peer_cmb_mb: beside the BAR, a second NVMe controller (no namespace)
    whose MB controller memory buffer is P2PDMA memory of another device
    than the target (DBU_PEER_CMB_BDF): P2P through struct pages.
    nvme_cmb_mb: give the NVMe a controller memory buffer (P2PDMA memory,
    p2pmem). debian: the Debian kernel's suite (default: trixie, sid with
    a peer); the command gets DBU_NVME_BDF in every boot.

    deterministic: QEMU icount (see the module's doc), or "sleep": icount
    whose idle waits take host time (for the emulated NVMe); always TCG,
    so DBU_VM_ACCEL=kvm with it is a RigError.

    env: variables for the command on top of the rig's own (PATH, HOME,
    LD_LIBRARY_PATH with build/ first, DBU_* and FIO_*); they win.

    output is the command's stdout and stderr as they arrived. With stream,
    both are also copied live to sys.stdout / sys.stderr. Exit status 124 on
    timeout, 125 when the guest never reported one. Raises RigError when the
    rig cannot be set up or an argument is wrong.
    """
    if not command:
        raise RigError("no command given (dmabuf-bench vm [options] -- COMMAND...)")
    if iommu not in IOMMU_MODES:
        raise RigError(f"--iommu {iommu}: expected one of {', '.join(IOMMU_MODES)}")
    if modules and not kernel:
        raise RigError("--modules needs --kernel")
    if debian and kernel:
        raise RigError("--debian and --kernel do not combine")
    if debian and debian not in SUITES:
        raise RigError(f"--debian {debian}: expected one of {', '.join(SUITES)}")
    if (peer_cmb_mb or peer_topology != "root") and not peer_bar:
        raise RigError("--peer-cmb and --peer-topology need --peer-bar (they "
                       "place devices beside the peer)")
    peer = Peer(peer_bar, peer_topology, peer_cmb_mb) if peer_bar else None
    if peer and iommu == "off":
        progress("warning: --peer-bar without an IOMMU: the peer is in no "
                 "IOMMU group and vfio-pci (sid's kernel has no "
                 "VFIO_NOIOMMU) will not take it; try --iommu strict")
    deadline = time.monotonic() + timeout
    kern = _custom_kernel(kernel, modules) if kernel else None
    try:
        with _setup_lock():
            if kern is None:
                kern = _debian_kernel(deadline, debian or
                                      (PEER_SUITE if peer else SUITE))
            base = _base_initramfs(kern)
    except RigTimeout:
        progress(f"timeout: rig setup did not finish within --timeout {timeout} s")
        return EXIT_TIMEOUT, ""
    return _boot(kern, base, list(command), iommu=iommu, append=append,
                 rw=rw, mem_mb=mem_mb, disk_mb=disk_mb, stream=stream,
                 timeout=timeout, deadline=deadline, env=env or {},
                 deterministic=deterministic, peer=peer,
                 nvme_cmb_mb=nvme_cmb_mb)


def ensure_rig(suite: str = SUITE) -> None:
    """Fetch and cache a Debian kernel and its base initramfs."""
    with _setup_lock():
        _base_initramfs(_debian_kernel(time.monotonic() + 900, suite))


SIZE_UNITS = {"": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30}


class Peer:
    """--peer-bar SIZE[:FILE]: QEMU's ivshmem-plain, whose BAR2 (64-bit,
    prefetchable) is SIZE bytes of FILE on the host, shared: what the
    guest's device DMA puts in the BAR is in FILE, an independent witness.
    FILE is kept after the run (made, or resized to SIZE, at boot; its
    bytes are kept when the size matches); without FILE the memory is a
    file in the run's folder, gone after it."""

    def __init__(self, spec, topology="root", cmb_mb=0):
        size, _, path = spec.partition(":")
        m = re.fullmatch(r"(\d+)([kmg]?)", size.strip().lower())
        if not m:
            raise RigError(f"--peer-bar {spec}: expected SIZE[:FILE], SIZE "
                           "like 16m, 64m or 1g")
        self.size = int(m.group(1)) * SIZE_UNITS[m.group(2)]
        if self.size < (1 << 20) or self.size & (self.size - 1):
            raise RigError(f"--peer-bar {spec}: a PCI BAR is a power of two; "
                           "give 1m or more (16m, 64m, ...)")
        if topology not in PEER_TOPOLOGIES:
            raise RigError(f"--peer-topology {topology}: expected one of "
                           f"{', '.join(PEER_TOPOLOGIES)}")
        self.file = Path(path).resolve() if path else None
        self.topology = topology
        self.cmb_mb = cmb_mb

    def prepare(self, rundir):
        """The backing file, SIZE bytes; returns its path."""
        path = self.file or rundir / "peer-bar"
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(path, "ab") as f:
            if os.fstat(f.fileno()).st_size != self.size:
                f.truncate(self.size)
        self.path = path
        return path

    def env(self):
        """For the command; DBU_PEER_CMB says a CMB peer was asked for."""
        return {"DBU_PEER_FILE": str(self.path), "DBU_PEER_SIZE": str(self.size),
                "DBU_PEER_TOPOLOGY": self.topology,
                **({"DBU_PEER_CMB": str(self.cmb_mb)} if self.cmb_mb else {})}

    def qemu_args(self, nvme):
        """QEMU arguments for the peer and the NVMe device `nvme`."""
        mem = ["-object", f"memory-backend-file,id=peermem,size={self.size},"
               f"share=on,mem-path={self.path}"]
        cmb = f"nvme,serial={PEER_CMB_SERIAL},cmb_size_mb={self.cmb_mb}"
        if self.topology != "switch":
            return mem + ["-device", f"ivshmem-plain,memdev=peermem,addr={PEER_ADDR}",
                          "-device", nvme] + \
                (["-device", f"{cmb},addr={PEER_CMB_ADDR}"] if self.cmb_mb else [])
        ports = 3 if self.cmb_mb else 2
        return mem + ["-device", "pcie-root-port,id=rp0,bus=pcie.0,chassis=1,slot=1",
                      "-device", "x3130-upstream,id=up0,bus=rp0"] + \
            [a for i in range(ports) for a in (
                "-device", f"xio3130-downstream,id=dn{i},bus=up0,chassis={i + 2},slot={i}")] + \
            ["-device", f"{nvme},bus=dn0",
             "-device", "ivshmem-plain,memdev=peermem,bus=dn1"] + \
            (["-device", f"{cmb},bus=dn2"] if self.cmb_mb else [])


@contextlib.contextmanager
def _setup_lock():
    """Serialises the kernel fetch and initramfs builds of concurrent rigs."""
    VM_DIR.mkdir(parents=True, exist_ok=True)
    with open(VM_DIR / ".setup.lock", "w") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        yield


# ---------------------------------------------------------------- kernels

class Kernel:
    """A bootable image plus the root of its modules tree (may be None)."""

    def __init__(self, image, moddir, version, custom):
        self.image, self.moddir, self.version, self.custom = image, moddir, version, custom


def _need_tool(name):
    path = shutil.which(name, path=os.environ.get("PATH", "") + ":/usr/sbin:/sbin")
    if not path:
        raise RigError(f"{name} not found; install it (scripts/setup installs the rig's packages)")
    return path


def _sh(argv, deadline, **kw):
    left = deadline - time.monotonic()
    if left <= 0:
        raise RigTimeout()
    try:
        res = subprocess.run(argv, capture_output=True, text=True, timeout=left, **kw)
    except subprocess.TimeoutExpired as e:
        raise RigTimeout() from e
    if res.returncode != 0:
        raise RigError(f"{' '.join(argv[:2])}... failed (exit {res.returncode}):\n"
                       f"{(res.stderr or res.stdout).strip()[-2000:]}")
    return res.stdout


def _suite_dir(name, suite):
    """build/vm/NAME for the default suite (as before sid), NAME-SUITE else."""
    return VM_DIR / (name if suite == SUITE else f"{name}-{suite}")


def _apt_state(suite):
    apt = _suite_dir("apt", suite)
    for sub in ("sourceparts", "prefparts", "lists/partial", "cache/archives/partial"):
        (apt / sub).mkdir(parents=True, exist_ok=True)
    (apt / "sources.list").write_text(_apt_source(suite))
    return ["-o", f"Dir::Etc::SourceList={apt}/sources.list",
            "-o", f"Dir::Etc::SourceParts={apt}/sourceparts",
            "-o", f"Dir::Etc::PreferencesParts={apt}/prefparts",
            "-o", f"Dir::State::Lists={apt}/lists",
            "-o", f"Dir::Cache={apt}/cache",
            "-o", "APT::Sandbox::User=root",
            "-o", "Acquire::Languages=none"]


def _debian_kernel(deadline, suite=SUITE):
    """The cached Debian kernel of `suite`; downloads it the first time."""
    kdir = VM_DIR / "kernel"
    current = kdir / ("current" if suite == SUITE else f"current-{suite}")
    if current.is_file():
        root = kdir / current.read_text().strip()
        kern = _kernel_from_tree(root)
        if kern:
            return kern
    t0 = time.monotonic()
    for tool in ("apt-get", "apt-cache", "dpkg"):
        _need_tool(tool)
    opts = _apt_state(suite)
    progress(f"fetching kernel: resolving {KERNEL_META} in Debian {suite}")
    _sh(["apt-get", *opts, "-q", "update"], deadline)
    deps = _sh(["apt-cache", *opts, "depends", KERNEL_META], deadline)
    m = re.search(r"Depends:\s*(linux-image-\S+)", deps)
    if not m:
        raise RigError(f"cannot resolve {KERNEL_META}'s kernel package from:\n{deps}")
    pkg = m.group(1)
    # Since 7.x (sid) linux-image-VER is empty and depends on the image
    # (linux-binary-VER) and the modules (linux-modules-VER).
    ver = pkg[len("linux-image-"):]
    parts = re.findall(rf"Depends:\s*(linux-(?:binary|modules)-{re.escape(ver)})\s",
                       _sh(["apt-cache", *opts, "depends", pkg], deadline))
    pkgs = [pkg, *dict.fromkeys(parts)]
    progress(f"fetching kernel {' '.join(pkgs)}...")
    debs = VM_DIR / "debs"
    debs.mkdir(parents=True, exist_ok=True)
    _sh(["apt-get", *opts, "-q", "download", *pkgs], deadline, cwd=debs)
    tmp = kdir / f".{pkg}.tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    for name in pkgs:
        deb = max(debs.glob(f"{name}_*.deb"), key=lambda p: p.stat().st_mtime)
        _sh(["dpkg", "-x", str(deb), str(tmp)], deadline)
        deb.unlink()
    root = kdir / pkg
    shutil.rmtree(root, ignore_errors=True)
    tmp.rename(root)
    kern = _kernel_from_tree(root)
    if not kern:
        raise RigError(f"{' '.join(pkgs)} hold no vmlinuz and lib/modules/<version>")
    current.write_text(pkg + "\n")
    progress(f"kernel {kern.version} ready in {time.monotonic() - t0:.1f} s")
    return kern


def _modules_root(tree, version=None):
    """lib/modules/<version> inside an unpacked package or INSTALL_MOD_PATH."""
    found = []
    for base in (tree / "lib" / "modules", tree / "usr" / "lib" / "modules"):
        if base.is_dir() and not base.is_symlink():
            found += [d for d in sorted(base.iterdir()) if d.is_dir()]
    if version:
        exact = [d for d in found if d.name == version]
        if exact:
            return exact[0]
    return found[0] if len(found) == 1 else (None if not found else found)


def _kernel_from_tree(root):
    moddir = _modules_root(root)
    if not isinstance(moddir, Path):
        return None
    version = moddir.name
    for image in (root / "boot" / f"vmlinuz-{version}", moddir / "vmlinuz"):
        if image.is_file():
            return Kernel(image, moddir, version, custom=False)
    return None


def bzimage_version(path):
    """The version string of a bzImage; RigError when it is not one."""
    try:
        with open(path, "rb") as f:
            head = f.read(0x10000)
    except OSError as e:
        raise RigError(f"--kernel {path}: {e.strerror}") from e
    if len(head) < 0x210 or head[0x202:0x206] != b"HdrS":
        raise RigError(f"--kernel {path}: not a bzImage (no 'HdrS' setup header)")
    off = int.from_bytes(head[0x20E:0x210], "little") + 0x200
    return head[off:off + 256].split(b"\0")[0].decode(errors="replace").split(" ")[0]


def _custom_kernel(image, modules):
    image = Path(image).resolve()
    version = bzimage_version(image)
    moddir = None
    if modules:
        mroot = Path(modules).resolve()
        if not mroot.is_dir():
            raise RigError(f"--modules {modules}: not a directory")
        moddir = _modules_root(mroot, version)
        if moddir is None:
            raise RigError(f"--modules {modules}: no lib/modules/<version>/ inside")
        if isinstance(moddir, list):
            raise RigError(f"--modules {modules}: several versions "
                           f"({', '.join(d.name for d in moddir)}), none is {version}")
        if moddir.name != version:
            progress(f"warning: --modules has {moddir.name}, the kernel says {version}")
    return Kernel(image, moddir, version, custom=True)


# ---------------------------------------------------------------- modules

def _norm(name):
    return name.replace("-", "_")


def _module_index(moddir):
    index = {}
    for dirpath, _, files in os.walk(moddir):
        for f in files:
            m = re.match(r"(.+)\.ko(\.xz|\.zst|\.gz)?$", f)
            if m:
                index.setdefault(_norm(m.group(1)), Path(dirpath) / f)
    return index


def _builtin(moddir):
    path = moddir / "modules.builtin"
    if not path.is_file():
        return set()
    return {_norm(Path(line.strip()).name.split(".ko")[0])
            for line in path.read_text().splitlines() if line.strip()}


def _read_ko(path):
    name = path.name
    if name.endswith(".xz"):
        return lzma.decompress(path.read_bytes())
    if name.endswith(".gz"):
        return gzip.decompress(path.read_bytes())
    if name.endswith(".zst"):
        return subprocess.run([_need_tool("zstd"), "-dc", str(path)], check=True,
                              capture_output=True).stdout
    return path.read_bytes()


def _modinfo(data, key):
    return [v.decode(errors="replace")
            for v in re.findall(rb"(?:^|\x00)" + key.encode() + rb"=([^\x00]*)", data)]


def _resolve_modules(kern):
    """([(file name, bytes, args)] in load order, the same for the peer's
    modules); missing ones are reported (the peer's are optional)."""
    if kern.moddir is None:
        progress("no --modules: nvme, 9p and the rest must be built into the kernel")
        return [], []
    index, builtin = _module_index(kern.moddir), _builtin(kern.moddir)
    order, seen = [], set()

    def visit(name, wanted_by, optional=False):
        name = _norm(name)
        if name in seen or name in builtin:
            return
        seen.add(name)
        if name not in index:
            what = f"module {name}" + (f" (needed by {wanted_by})" if wanted_by else "")
            if optional:
                return
            if not kern.custom:
                raise RigError(f"{what} is missing from {kern.moddir}")
            progress(f"warning: {what} is neither built in nor in {kern.moddir}")
            return
        data = _read_ko(index[name])
        for dep in filter(None, ",".join(_modinfo(data, "depends")).split(",")):
            visit(dep, name, optional)
        args = MODULE_ARGS.get(name, "")
        if name == "null_blk" and any(p.startswith("memory_backed:")
                                      for p in _modinfo(data, "parm")):
            args += " " + MEMORY_BACKED_ARG
        order.append((f"{name}.ko", data, args.strip()))

    for mod in RIG_MODULES:
        visit(mod, None)
    base = order
    order = []
    for mod in PEER_MODULES:
        visit(mod, None, optional=True)
    return base, order


# ---------------------------------------------------------------- initramfs

def _cpio(entries):
    """A newc cpio archive of [(name, mode, data)], padded to 512 bytes."""
    out = bytearray()
    for ino, (name, mode, data) in enumerate(entries + [("TRAILER!!!", 0, b"")], 1):
        nb = name.encode() + b"\0"
        fields = (ino, mode, 0, 0, 1, 0, len(data), 0, 0, 0, 0, len(nb), 0)
        out += b"070701" + b"".join(b"%08X" % f for f in fields) + nb
        out += b"\0" * (-len(out) % 4) + data
        out += b"\0" * (-len(out) % 4)
    return bytes(out + b"\0" * (-len(out) % 512))


def _busybox_entries():
    if not os.path.isfile(BUSYBOX):
        raise RigError(f"{BUSYBOX} not found; install busybox-static")
    with open(BUSYBOX, "rb") as f:
        data = f.read()
    if b"ld-linux" in data[:4096] or b"/lib64/ld-" in data[:8192]:
        raise RigError(f"{BUSYBOX} is dynamically linked; install busybox-static")
    applets = subprocess.run([BUSYBOX, "--list-full"], capture_output=True,
                             text=True, check=True).stdout.split()
    entries = [(d, 0o40755, b"") for d in ("bin", "sbin", "usr", "usr/bin", "usr/sbin",
                                            "dev", "proc", "sys", "host", "lib",
                                            "lib/modules", "tmp")]
    entries.append(("bin/busybox", 0o100755, data))
    entries += [(a, 0o120777, b"/bin/busybox") for a in applets if a != "bin/busybox"]
    return entries


def _base_initramfs(kern):
    """Cached gzip'd cpio of busybox, the modules, /init and /job.sh."""
    init, job = (GUEST_DIR / "init").read_bytes(), (GUEST_DIR / "job.sh").read_bytes()
    key = hashlib.sha256()
    for part in (FORMAT, str(kern.moddir), kern.version, init, job, BUSYBOX,
                 str(os.stat(BUSYBOX).st_mtime_ns)):
        key.update(part.encode() if isinstance(part, str) else part)
    if kern.moddir:
        for p in sorted(_module_index(kern.moddir).values()):
            st = p.stat()
            key.update(f"{p}:{st.st_size}:{st.st_mtime_ns}".encode())
    out = VM_DIR / "initrd" / f"base-{kern.version}-{key.hexdigest()[:12]}.cpio.gz"
    if out.is_file():
        return out
    t0 = time.monotonic()
    progress("building initramfs")
    mods, peer = _resolve_modules(kern)
    entries = _busybox_entries()
    entries += [(f"lib/modules/{n}", 0o100644, d) for n, d, _ in mods + peer]
    for name, part in (("modules.list", mods), ("peer.list", peer)):
        entries.append((name, 0o100644,
                        "".join(f"{n} {a}\n" for n, _, a in part).encode()))
    entries += [("init", 0o100755, init), ("job.sh", 0o100644, job)]
    data = gzip.compress(_cpio(entries), compresslevel=1)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_suffix(f".tmp{os.getpid()}")
    tmp.write_bytes(data + b"\0" * (-len(data) % 512))
    tmp.rename(out)
    names = " ".join(f"{n[:-3]}({a})" if a else n[:-3] for n, _, a in mods + peer)
    progress(f"initramfs ready in {time.monotonic() - t0:.1f} s "
             f"({len(data) >> 10} KiB; modules: {names or 'none'})")
    return out


def _job_conf(command, cwd, rw_dirs, nonce, extra=None, peer=False):
    env = {"PATH": os.environ.get("PATH", "/usr/sbin:/usr/bin:/sbin:/bin"), "HOME": "/root"}
    ld = [str(REPO / "build")] + [p for p in os.environ.get("LD_LIBRARY_PATH", "").split(":") if p]
    env["LD_LIBRARY_PATH"] = ":".join(ld)
    for k, v in os.environ.items():
        if k in PASS_ENV or k.startswith(PASS_ENV_PREFIXES):
            env[k] = v
    env.update(extra or {})
    q = shlex.quote
    lines = [f"DBU_NONCE={q(nonce)}", f"DBU_MSIZE={MSIZE}", f"DBU_PEER={int(peer)}"]
    lines += [f"DBU_RW_{i}={q(d)}" for i, d in enumerate(rw_dirs, 1)]
    inner = 'cd "$1" || exit 126; shift; exec "$@"'
    argv = ["/bin/busybox", "env", "-i", *(f"{k}={v}" for k, v in env.items())]
    tail = ["/bin/busybox", "chroot", "/host", "/bin/sh", "-c", inner,
            "dmabuf-bench", cwd, *command]
    # What job.sh finds in the guest (PCI addresses), when it finds it.
    found = " ".join(f"${{{k}:+{k}=${k}}}" for k in GUEST_FOUND)
    lines.append("dbu_command() {\n\t" + " ".join(q(a) for a in argv) + " " +
                 found + " " + " ".join(q(a) for a in tail) + "\n}")
    return ("\n".join(lines) + "\n").encode()


# ---------------------------------------------------------------- boot

def _accel(deterministic=False):
    forced = os.environ.get("DBU_VM_ACCEL", "")
    if deterministic:
        if forced == "kvm":
            raise RigError("DBU_VM_ACCEL=kvm: deterministic mode needs TCG "
                           "(icount); use --no-deterministic for KVM")
        return "icount-sleep" if deterministic == "sleep" else "icount"
    if forced in ("tcg", "kvm"):
        return forced
    if forced:
        raise RigError(f"DBU_VM_ACCEL={forced}: expected tcg or kvm")
    try:
        flags = Path("/proc/cpuinfo").read_text()
    except OSError:
        return "tcg"
    if (re.search(r"\b(vmx|svm)\b", flags) and os.access("/dev/kvm", os.R_OK | os.W_OK)
            and not os.path.exists("/sys/module/kvm_pvm")):
        return "kvm"
    return "tcg"


def _rw_dirs(rw):
    """The caller's cwd and each --rw dir, absolute, outermost first, no nesting."""
    dirs = []
    for d in [os.getcwd(), *rw]:
        p = os.path.realpath(d)
        if p == "/":
            progress("warning: not sharing / read-write; run from a sub-directory")
            continue
        os.makedirs(p, exist_ok=True)
        dirs.append(p)
    dirs.sort(key=lambda p: (p.count("/"), p))
    kept = []
    for p in dirs:
        if not any(p == k or p.startswith(k + "/") for k in kept):
            kept.append(p)
    return kept


def _qemu_argv(kern, initrd, disk, outs, rw_dirs, iommu, append, mem_mb, accel,
               peer=None, nvme_cmb_mb=0):
    machine = "q35" if iommu == "off" else "q35,kernel-irqchip=split"
    model = PEER_CPU if peer and peer.topology != "unlisted" else "max"
    if accel == "kvm":
        cpu = ["-accel", "kvm", "-cpu", "host"]
    elif accel.startswith("icount"):
        cpu = ["-accel", "tcg,thread=single", "-icount",
               ICOUNT["sleep" if accel == "icount-sleep" else True], "-cpu", model]
    else:
        cpu = ["-accel", "tcg,thread=multi", "-cpu", model]
    tcg = TCG_APPEND if accel != "kvm" else ""
    cmdline = " ".join(filter(None, (BASE_APPEND, tcg, IOMMU_MODES[iommu], append)))
    argv = [QEMU, "-name", "dmabuf-bench", "-machine", machine, *cpu, "-smp", "2",
            "-m", str(mem_mb), "-nodefaults", "-no-user-config", "-nic", "none",
            "-display", "none", "-no-reboot", "-serial", "stdio"]
    for i, path in enumerate(outs):
        argv += ["-chardev", f"file,id=out{i},path={path}", "-serial", f"chardev:out{i}"]
    argv += ["-kernel", str(kern.image), "-initrd", str(initrd), "-append", cmdline]
    if iommu != "off":
        argv += ["-device", "intel-iommu,intremap=on"]
    argv += ["-drive", f"file={disk},if=none,id=nvm,format=raw,cache=unsafe"]
    nvme = "nvme,serial=dbu-nvme0,drive=nvm" + (
        f",cmb_size_mb={nvme_cmb_mb}" if nvme_cmb_mb else "")
    # Before the 9p devices, which take the free root-bus slots.
    argv += peer.qemu_args(nvme) if peer else ["-device", nvme]
    share = "security_model=none,multidevs=remap"
    argv += ["-virtfs", f"local,path=/,mount_tag=hostroot,{share},readonly=on"]
    for i, d in enumerate(rw_dirs, 1):
        argv += ["-virtfs", f"local,path={d},mount_tag=rw{i},{share}"]
    return argv


def _die_with_parent():
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG: never outlive the rig


class _Output:
    """Follows the guest's stdout/stderr files; copies them live when streaming."""

    def __init__(self, paths, stream):
        self.files = [open(p, "rb") for p in paths]
        self.sinks = [sys.stdout, sys.stderr]
        self.stream, self.chunks = stream, []

    def drain(self):
        for f, sink in zip(self.files, self.sinks):
            data = f.read()
            if data:
                self.chunks.append(data)
                if self.stream:
                    sink.flush()
                    sink.buffer.write(data)
                    sink.buffer.flush()

    def close(self):
        self.drain()
        for f in self.files:
            f.close()
        return b"".join(self.chunks).decode(errors="replace")


def _boot(kern, base, command, *, iommu, append, rw, mem_mb, disk_mb, stream,
          timeout, deadline, env, deterministic, peer=None, nvme_cmb_mb=0):
    accel = _accel(deterministic)
    if peer and accel == "kvm":
        progress("warning: --peer-bar under KVM: the guest CPU is the host's, "
                 "so the AMD family 23 host-bridge rule of Linux's P2P check "
                 "applies only on such a host (DBU_VM_ACCEL=tcg forces it)")
    if not shutil.which(QEMU):
        raise RigError(f"{QEMU} not found; install qemu-system-x86")
    _remove_stale_rundirs()
    nonce = secrets.token_hex(4)
    rundir = VM_DIR / f"run-{os.getpid()}-{nonce}"
    rundir.mkdir(parents=True)
    try:
        # The guest reads the peer's FILE (the witness) at its own path:
        # shared, since its /tmp is a tmpfs of its own.
        rw_dirs = _rw_dirs([*rw, *([peer.file.parent] if peer and peer.file else [])])
        initrd = rundir / "initrd"
        if peer:
            peer.prepare(rundir)
            env = {**peer.env(), **env}
        conf = _job_conf(command, os.getcwd(), rw_dirs, nonce, env, peer=bool(peer))
        initrd.write_bytes(base.read_bytes() + _cpio([("job.conf", 0o100644, conf)]))
        disk = rundir / "disk.img"
        with open(disk, "wb") as f:
            f.truncate(disk_mb << 20)
        outs = [rundir / "stdout", rundir / "stderr"]
        for p in outs:
            p.touch()
        argv = _qemu_argv(kern, initrd, disk, outs, rw_dirs, iommu, append, mem_mb, accel,
                          peer, nvme_cmb_mb)
        for attempt in range(1, BOOT_ATTEMPTS + 1):
            progress(f"booting (iommu={iommu}, {accel}, kernel {kern.version}"
                     + (f", peer BAR {peer.size >> 20} MiB on {peer.topology}: "
                        f"{peer.path}" if peer else "") + ")")
            rc, text, retry = _supervise(argv, outs, nonce, command, stream,
                                         timeout, deadline, last=attempt == BOOT_ATTEMPTS)
            if not retry:
                return rc, text
            shutil.copyfile(VM_DIR / "last-console.log", VM_DIR / "crashed-console.log")
            progress("the guest died before the command started (console: "
                     f"{VM_DIR / 'crashed-console.log'}); booting again")
        return rc, text
    finally:
        shutil.rmtree(rundir, ignore_errors=True)


def _remove_stale_rundirs():
    """Run folders of rigs that were killed (SIGKILL leaves them behind)."""
    for d in VM_DIR.glob("run-*-*"):
        pid = d.name.split("-")[1]
        if pid.isdigit() and not os.path.exists(f"/proc/{pid}"):
            shutil.rmtree(d, ignore_errors=True)


def _supervise(argv, outs, nonce, command, stream, timeout, deadline, last):
    """Run QEMU until power-off or the deadline: (rc, output, boot again?)."""
    t0 = time.monotonic()
    marker = re.compile(rf"@@DBU-{nonce} (.*)")
    console, pending, rc, started = bytearray(), b"", None, False
    output = _Output(outs, stream)
    proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, preexec_fn=_die_with_parent)
    sel = selectors.DefaultSelector()
    sel.register(proc.stdout, selectors.EVENT_READ)
    timed_out = False
    try:
        eof = False
        while not eof:
            if time.monotonic() > deadline:
                timed_out = True
                break
            for _ in sel.select(timeout=0.1):
                chunk = os.read(proc.stdout.fileno(), 65536)
                eof = eof or not chunk
                console += chunk
                pending += chunk
                *lines, pending = pending.split(b"\n")
                for line in lines:
                    m = marker.search(line.decode(errors="replace"))
                    if m:
                        started = started or m.group(1).strip() == "start"
                        rc = _on_marker(m.group(1).strip(), command, rc)
            output.drain()
    finally:
        _kill(proc)
        text = output.close()
        _save_console(console)
    if timed_out:
        progress(f"timeout: the command did not finish within --timeout {timeout} s; "
                 "QEMU killed")
        return EXIT_TIMEOUT, text, False
    if rc is None and not started and not last:
        return EXIT_NO_STATUS, text, True
    if rc is None or not started:
        what = "reported no exit status" if rc is None else "could not start the command"
        tail = "\n".join(console.decode(errors="replace").splitlines()[-30:])
        progress(f"the guest {what} (QEMU exit {proc.returncode}); console tail:\n"
                 f"{tail}\n(full log: {VM_DIR / 'last-console.log'})")
        return EXIT_NO_STATUS if rc is None else rc, text, False
    progress(f"powered off after {time.monotonic() - t0:.1f} s")
    return rc, text, False


def _on_marker(msg, command, rc):
    if msg == "start":
        progress(f"guest: running {shlex.join(command)}")
    elif msg.startswith("exit rc="):
        return int(msg[len("exit rc="):])
    else:
        progress(f"guest: {msg}")
    return rc


def _kill(proc):
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=3)
        except subprocess.TimeoutExpired:
            proc.kill()
    proc.wait()
    proc.stdout.close()


def _save_console(console):
    VM_DIR.mkdir(parents=True, exist_ok=True)
    tmp = VM_DIR / f".console.{os.getpid()}"
    tmp.write_bytes(bytes(console))
    tmp.rename(VM_DIR / "last-console.log")


# ---------------------------------------------------------------- CLI

HELP = "boot the QEMU rig and run COMMAND in the guest"
EPILOG = """\
COMMAND runs via chroot into the host's / (read-only), in the current directory
(shared read-write, as is each --rw DIR), with the caller's PATH and
LD_LIBRARY_PATH=<repo>/build, so `fio --ioengine=dmabuf_uring` works by name.
Guest devices: /dev/nvme0n1 (fresh sparse image), /dev/nullb0, /dev/ram0,
/dev/udmabuf, /dev/dma_heap/system, /dev/dri/card* (vgem).
Exit status: COMMAND's; 124 on timeout; 125 if the guest reported none.
Cache and logs: build/vm/ (console of the last run: build/vm/last-console.log).
DBU_VM_ACCEL=tcg|kvm forces the accelerator (default: kvm only if usable).
--peer-bar SIZE[:FILE]: device memory (an ivshmem BAR whose bytes are FILE on
the host) bound to vfio-pci; the command gets DBU_PEER_BDF, DBU_PEER_FILE,
DBU_PEER_SIZE. Every command gets DBU_NVME_BDF (docs/p2p-rig.md).
--deterministic: QEMU icount, guest time = guest instructions (always TCG);
figures repeat across boots within about 0.5 % (docs/deterministic.md).

example: scripts/dmabuf-bench vm --iommu strict -- fio --name=t \\
           --ioengine=dmabuf_uring --filename=/dev/nvme0n1 --direct=1 --size=16m
"""


def add_parser(subparsers):
    p = subparsers.add_parser("vm", help=HELP, description="Boot the QEMU rig and run COMMAND in the guest.",
                              epilog=EPILOG,
                              formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--iommu", choices=list(IOMMU_MODES), default=None,
                   help="intel-iommu mode: off (no vIOMMU), strict, lazy, pt "
                        "(default: off; strict with --peer-bar)")
    p.add_argument("--kernel", metavar="BZIMAGE",
                   help="boot this kernel instead of Debian's (e.g. one with the series)")
    p.add_argument("--modules", metavar="DIR",
                   help="INSTALL_MOD_PATH root of --kernel's modules (has lib/modules/<ver>/)")
    p.add_argument("--timeout", type=float, default=900, metavar="S",
                   help="bound the whole run; exit 124 when exceeded (default: 900)")
    p.add_argument("--append", default="", metavar="KERNEL_ARGS",
                   help="extra kernel command line arguments")
    p.add_argument("--rw", action="append", default=[], metavar="DIR",
                   help="also share DIR read-write at its own path (repeatable)")
    p.add_argument("--mem", type=int, default=2048, metavar="MB",
                   help="guest memory (default: 2048)")
    p.add_argument("--disk-mb", type=int, default=256, metavar="MB",
                   help="size of the NVMe disk image (default: 256)")
    add_peer(p)
    p.add_argument("--debian", choices=SUITES, default=None,
                   help=f"boot this Debian suite's kernel (default: {SUITE}; "
                        f"{PEER_SUITE} with --peer-bar)")
    add_deterministic(p, default=False)
    p.add_argument("command", nargs=argparse.REMAINDER, metavar="-- COMMAND...",
                   help="the command to run in the guest")
    p.set_defaults(func=_cmd_vm)


def add_peer(p):
    """--peer-bar, --peer-topology, --nvme-cmb on a subcommand that boots."""
    p.add_argument("--peer-bar", metavar="SIZE[:FILE]",
                   help="add device memory: an ivshmem PCI BAR of SIZE (a "
                        "power of two: 16m, 64m) backed by FILE on the host "
                        "(kept; default: a file of the run, removed), bound "
                        "to vfio-pci in the guest (dmabuf_src=vfio:"
                        "$DBU_PEER_BDF); boots sid's kernel")
    p.add_argument("--peer-topology", choices=PEER_TOPOLOGIES, default="root",
                   help="root: NVMe and peer on the root bus, CPU family 23 "
                        "(passes Linux's P2P check); switch: both behind one "
                        "PCIe switch; unlisted: root bus, CPU family 15 (fails "
                        "the P2P check) (default: root)")
    p.add_argument("--nvme-cmb", type=int, default=0, metavar="MB",
                   help="give the NVMe a controller memory buffer of MB, "
                        "published as P2PDMA memory (dmabuf_src=p2pmem:"
                        "$DBU_NVME_BDF)")
    p.add_argument("--peer-cmb", type=int, default=0, metavar="MB",
                   help="with --peer-bar: a second NVMe controller beside the "
                        "peer, whose MB CMB is P2PDMA memory of another "
                        "device than the target (dmabuf_src=p2pmem:"
                        "$DBU_PEER_CMB_BDF)")


def iommu_default(args):
    """--iommu as given, else strict with a peer (vfio needs an IOMMU on
    sid's kernel), else off."""
    return args.iommu or ("strict" if getattr(args, "peer_bar", None) else "off")


def add_deterministic(p, default):
    """--deterministic / --no-deterministic on a subcommand that boots;
    default None: icount on a CPU target only (icount_mode)."""
    auto = f"on for {' or '.join(CPU_TARGETS)}, off elsewhere"
    p.add_argument("--deterministic", action=argparse.BooleanOptionalAction,
                   default=default,
                   help="QEMU icount: guest time counts guest instructions, "
                        "so figures repeat across boots (single-threaded "
                        "TCG, slower); --no-deterministic: multi-threaded "
                        "TCG or KVM (default: "
                        f"{auto if default is None else 'on' if default else 'off'})")


def _cmd_vm(args):
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    if not command:
        progress("no command given; usage: dmabuf-bench vm [options] -- COMMAND...")
        return 2
    for signum in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(signum, _on_signal)
    try:
        rc, _ = run(command, iommu=iommu_default(args), kernel=args.kernel,
                    modules=args.modules, timeout=args.timeout,
                    append=args.append, rw=args.rw, mem_mb=args.mem,
                    disk_mb=args.disk_mb, stream=True,
                    deterministic=args.deterministic, peer_bar=args.peer_bar,
                    peer_topology=args.peer_topology,
                    nvme_cmb_mb=args.nvme_cmb, peer_cmb_mb=args.peer_cmb,
                    debian=args.debian)
    except RigError as e:
        progress(f"error: {e}")
        return 2
    except KeyboardInterrupt:
        progress("interrupted; QEMU killed")
        return 128 + signal.SIGINT
    except _Signalled as e:
        progress(f"got {signal.Signals(e.signum).name}; QEMU killed")
        return 128 + e.signum
    return rc


class _Signalled(Exception):
    def __init__(self, signum):
        super().__init__(signum)
        self.signum = signum


def _on_signal(signum, _frame):
    raise _Signalled(signum)
