"""What a run ran on: the target device (driver, model, IOMMU group) and
the machine (kernel, cmdline, IOMMU, fio, engine, source revision), as
`dmabuf-bench run` records them in sysinfo/RUN.json and in each row."""

import datetime
import hashlib
import os
import platform
import resource
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def _read(path, default=""):
    try:
        return Path(path).read_text().strip()
    except OSError:
        return default


def _sh(argv, cwd=None):
    try:
        r = subprocess.run(argv, capture_output=True, text=True, timeout=30, cwd=cwd)
        return r.stdout.strip() if r.returncode == 0 else ""
    except (OSError, subprocess.TimeoutExpired):
        return ""


def target_info(target):
    """Block device, model, firmware, driver, size and IOMMU group of the
    target (for a regular file: of the block device it lives on)."""
    info = {"path": str(target), "kind": "missing"}
    try:
        st = os.stat(target)
    except OSError as e:
        info["error"] = e.strerror
        return info
    import stat as S
    if S.S_ISBLK(st.st_mode):
        info["kind"], dev = "block", st.st_rdev
        info["size"] = 0
    else:
        info["kind"], dev = "file", st.st_dev
        info["size"] = st.st_size
    sysblk = Path(f"/sys/dev/block/{os.major(dev)}:{os.minor(dev)}")
    if not sysblk.exists():
        info["blockdev"] = ""
        return info
    blk = sysblk.resolve()
    if (blk / "partition").exists():
        blk = blk.parent
    info["blockdev"] = blk.name
    if info["kind"] == "block":
        try:
            info["size"] = int(_read(sysblk / "size", "0")) * 512
        except ValueError:
            pass
    q = blk / "queue"
    info["logical_block_size"] = _read(q / "logical_block_size")
    info["max_hw_sectors_kb"] = _read(q / "max_hw_sectors_kb")
    info["nr_hw_queues"] = len(list((blk / "mq").glob("*"))) if (blk / "mq").is_dir() else 0
    devdir = blk / "device"
    for k in ("model", "firmware_rev", "vendor", "transport"):
        v = _read(devdir / k)
        if v:
            info[k] = v
    # Walk up from the block device to the bus device: driver, IOMMU group.
    node = blk
    while node != node.parent and str(node).startswith("/sys/devices"):
        if "bus_device" not in info and (node / "driver").exists() and \
                (node / "subsystem").resolve().name in ("pci", "platform", "virtio"):
            info["driver"] = (node / "driver").resolve().name
            info["bus_device"] = node.name
            info["bus"] = (node / "subsystem").resolve().name
        if (node / "iommu_group").exists():
            grp = (node / "iommu_group").resolve()
            info["iommu_group"] = grp.name
            info["iommu_domain"] = _read(grp / "type", "unknown")
            if info.get("bus") == "virtio" and "driver" not in info:
                pass
            break
        node = node.parent
    # PCI driver above a virtio device (virtio-pci)
    if "driver" not in info:
        d = devdir.resolve() if devdir.exists() else None
        while d and d != d.parent and str(d).startswith("/sys/devices"):
            if (d / "driver").exists():
                info["driver"] = (d / "driver").resolve().name
                break
            d = d.parent
    info.setdefault("iommu_domain", "none")
    return info


def device_label(info):
    name = info.get("blockdev") or "?"
    model = info.get("model", "").strip()
    if info["kind"] == "file":
        return f"file@{name}"
    return f"{name}:{model}" if model else name


def engine_file(engine_dir):
    for d in ([engine_dir] if engine_dir else []) + [str(REPO / "build")] + \
            os.environ.get("LD_LIBRARY_PATH", "").split(":"):
        if d and (Path(d) / "dmabuf_uring").exists():
            return (Path(d) / "dmabuf_uring").resolve()
    return None


def sysinfo(args, run_id, scenario, tinfo, mode):
    eng = engine_file(args.engine_dir)
    groups = Path("/sys/kernel/iommu_groups")
    types = {}
    if groups.is_dir():
        for g in groups.iterdir():
            t = _read(g / "type", "?")
            types[t] = types.get(t, 0) + 1
    soft, hard = resource.getrlimit(resource.RLIMIT_MEMLOCK)
    cpu = ""
    for line in _read("/proc/cpuinfo").splitlines():
        if line.startswith("model name"):
            cpu = line.split(":", 1)[1].strip()
            break
    return {
        "run_id": run_id, "scenario": scenario, "platform": args.platform,
        "time": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "host": platform.node(), "kernel": platform.release(),
        "kernel_build": platform.version(), "cmdline": _read("/proc/cmdline"),
        "iommu": {"mode": mode, "target_domain": tinfo.get("iommu_domain"),
                  "target_group": tinfo.get("iommu_group", ""), "groups_by_type": types},
        "target": tinfo,
        "fio": {"version": _sh(["fio", "--version"]), "path": shutil.which("fio") or "",
                "client": args.client or ""},
        "engine": {"path": str(eng or ""),
                   "sha256": hashlib.sha256(eng.read_bytes()).hexdigest() if eng else "",
                   "version": ""},
        "source_revision": _sh(["git", "-c", f"safe.directory={REPO}", "describe",
                                "--always", "--dirty", "--tags"], cwd=REPO),
        "cpu": {"model": cpu, "count": os.cpu_count()},
        "memlock": {"soft": soft, "hard": hard},
        "python": platform.python_version(),
        "command": shlex.join(sys.argv),
    }


# ---------------------------------------------------------------- running
