# SPDX-License-Identifier: GPL-2.0-only
"""C test programs of tests/c/, compiled at test time (liburing style:
exit 0 pass, 1 fail, 77 skip), against the engine's own headers and, where
they test engine code, its sources."""
import subprocess
from pathlib import Path

from dbu_test import REPO

CFLAGS = ["-std=gnu11", "-O1", "-g", "-Wall", "-Wextra", "-Werror",
          "-D_GNU_SOURCE", f"-I{REPO / 'include'}"]
# Engine code that does not need fio: what the probe programs link.
PROBE_SOURCES = ["engines/probe.c", "engines/error.c", "engines/sysinfo.c"]
PROGRAMS = {
    "uapi_layout": [],
    "probe_verdict": PROBE_SOURCES,
    "kernel_errors": PROBE_SOURCES,
    "watchdog_bound": ["engines/watchdog.c", "engines/error.c"],
    "error_latest": ["engines/error.c"],
    "fdinfo_regions": ["engines/fdinfo.c"],
}


def compile_c(name, outdir):
    """Build tests/c/<name>.c into outdir; returns the binary's path."""
    out = Path(outdir) / name
    srcs = [REPO / "tests" / "c" / f"{name}.c"] + \
        [REPO / s for s in PROGRAMS[name]]
    res = subprocess.run(["gcc", *CFLAGS, "-pthread", "-o", str(out),
                          *map(str, srcs), "-luring"],
                         capture_output=True, text=True, check=False)
    assert res.returncode == 0, f"gcc {name}.c failed:\n{res.stderr}"
    return out


def compile_shim(name, outdir):
    """Build tests/c/<name>.c into an LD_PRELOAD library; returns its path."""
    out = Path(outdir) / f"{name}.so"
    res = subprocess.run(["gcc", *CFLAGS, "-shared", "-fPIC", "-o", str(out),
                          str(REPO / "tests" / "c" / f"{name}.c"), "-ldl"],
                         capture_output=True, text=True, check=False)
    assert res.returncode == 0, f"gcc {name}.c failed:\n{res.stderr}"
    return out


def compile_all(outdir):
    return {name: compile_c(name, outdir) for name in PROGRAMS}


def parse_verdict(text):
    """probe_verdict's output -> {"verdict", "errno", "message"}."""
    out = {}
    for line in text.splitlines():
        for key in ("verdict", "message"):
            if line.startswith(key + "="):
                out[key] = line[len(key) + 1:]
        if line.startswith("verdict="):
            out["verdict"], _, err = line[len("verdict="):].partition(" errno=")
            out["errno"] = err
    return out
