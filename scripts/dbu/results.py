"""Result rows: fio JSON + the engine's per-job report -> one labelled row per job.

A results directory (written by `dmabuf-bench run`) holds:
  results.json    {"format": 1, "rows": [ROW, ...]}  (the normalised results)
  results.csv     the same rows, one per line, columns in COLUMNS order
  sysinfo/RUN.json  what the machine was, per run (one run = one boot/mode)
  raw/RUN/...     the expanded job files, fio's JSON, the engine's reports,
                  fio's stderr, exactly as they came

A ROW is a flat dict: the LABELS say what ran, the METRICS what it did.
A job that failed or was refused has status "refused" or "failed", a reason,
and no metrics (None), never a number.
"""

import csv
import json
import math
import os
import signal
from pathlib import Path

FORMAT = 1

# What ran. The first block identifies a job; LABEL_CHECK must agree between
# two rows before compare puts their numbers side by side.
LABELS = ["run_id", "scenario", "job", "source", "attach", "iommu", "device",
          "exporter", "uapi_probe", "engine", "rw", "bs", "iodepth", "target",
          "target_driver", "cpu_view", "placement", "peer_witness", "platform", "host", "kernel",
          "engine_version", "fio_version", "status", "reason"]
LABEL_CHECK = ("source", "attach", "iommu", "device", "platform")
# Deterministic rig runs (QEMU icount): guest time counts guest instructions.
ICOUNT = "vm-icount"

# (key, header, unit, direction): +1 bigger is better, -1 smaller is better,
# 0 informational.
METRICS = [
    ("iops", "IOPS", "IOPS", +1),
    # Job time per I/O: in the deterministic rig, guest instructions per I/O
    # (docs/deterministic.md); elsewhere 1/IOPS in ns.
    ("ns_per_io", "ns/IO", "ns", -1),
    ("bw_mib", "BW MiB/s", "MiB/s", +1),
    ("clat_mean_us", "clat mean us", "us", -1),
    ("clat_p50_us", "p50 us", "us", -1),
    ("clat_p99_us", "p99 us", "us", -1),
    ("clat_p999_us", "p99.9 us", "us", -1),
    ("usr_cpu", "usr %", "%", 0),
    ("sys_cpu", "sys %", "%", 0),
    ("cpu_per_io_us", "CPU/IO us", "us", -1),
    ("eagain", "EAGAIN", "count", 0),
    ("bounce_mib", "bounce MiB", "MiB", 0),
    ("ios", "I/Os", "count", 0),
]
METRIC_KEYS = [m[0] for m in METRICS]
METRIC_INFO = {m[0]: m for m in METRICS}
COLUMNS = LABELS + METRIC_KEYS

IOMMU_FROM_DOMAIN = {"DMA": "strict", "DMA-FQ": "lazy", "identity": "pt",
                     "none": "off", "": "off", "blocked": "blocked"}


# ---------------------------------------------------------------- parsing

def load_fio_json(path):
    """fio's JSON output file. In client mode fio writes the server's log
    lines (e.g. the engine's summary) into the same file before the JSON, so
    the object is cut from the first line that is '{' to the last that is '}'
    (what fio's own t/fiotestlib.py does); a local run's file is pure JSON."""
    text = Path(path).read_text(errors="replace")
    try:
        return json.loads(text)
    except ValueError:
        lines = text.splitlines()
        try:
            first = lines.index("{")
            last = len(lines) - 1 - lines[::-1].index("}")
        except ValueError:
            return None
        try:
            return json.loads("\n".join(lines[first:last + 1]))
        except ValueError:
            return None


def fio_jobs(doc):
    """The per-job entries of a fio JSON document (local or client mode)."""
    if not doc:
        return []
    return doc.get("jobs") or doc.get("client_stats") or []


def read_reports(path):
    """The engine's report file: JSON Lines, one object per job."""
    out = []
    try:
        text = Path(path).read_text(errors="replace")
    except OSError:
        return out
    for line in text.splitlines():
        line = line.strip()
        if line:
            try:
                out.append(json.loads(line))
            except ValueError:
                pass
    return out


def _num(v):
    try:
        v = float(v)
    except (TypeError, ValueError):
        return None
    return v if math.isfinite(v) else None


def _pct(clat, key):
    p = (clat or {}).get("percentile") or {}
    for k, v in p.items():
        try:
            if abs(float(k) - key) < 1e-6:
                return _num(v)
        except ValueError:
            continue
    return None


def metrics_from_fio(job):
    """Numbers of one fio JSON job entry. Directions are summed for IOPS and
    bandwidth; latency is that of the direction that did most I/Os."""
    dirs = [job.get(d) or {} for d in ("read", "write", "trim")]
    ios = sum(int(d.get("total_ios") or 0) for d in dirs)
    iops = sum(_num(d.get("iops")) or 0.0 for d in dirs)
    bw = sum(_num(d.get("bw_bytes")) or 0.0 for d in dirs)
    main = max(dirs, key=lambda d: int(d.get("total_ios") or 0))
    clat = main.get("clat_ns") or {}
    usr, sys_ = _num(job.get("usr_cpu")) or 0.0, _num(job.get("sys_cpu")) or 0.0
    runtime_s = (_num(job.get("job_runtime")) or 0.0) / 1000.0
    m = {k: None for k in METRIC_KEYS}
    m["ios"] = ios
    if ios == 0:
        return m
    ns = 1000.0
    m.update({
        "iops": iops,
        "ns_per_io": runtime_s * 1e9 / ios if runtime_s else None,
        "bw_mib": bw / (1 << 20),
        "clat_mean_us": (_num(clat.get("mean")) or 0.0) / ns,
        "clat_p50_us": (_pct(clat, 50.0) or 0.0) / ns,
        "clat_p99_us": (_pct(clat, 99.0) or 0.0) / ns,
        "clat_p999_us": (_pct(clat, 99.9) or 0.0) / ns,
        "usr_cpu": usr,
        "sys_cpu": sys_,
        # usr/sys are percent of the job's runtime (fio-host.md section 5).
        "cpu_per_io_us": (usr + sys_) / 100.0 * runtime_s / ios * 1e6,
    })
    return m


# ---------------------------------------------------------------- rows

def new_row(**labels):
    row = {k: "" for k in LABELS}
    row.update({k: None for k in METRIC_KEYS})
    row.update(labels)
    return row


def make_row(base, job, report, fio_rc, stderr_lines, job_opts):
    """One row from fio's JSON job entry (may be None), the engine's report
    for it (may be None), fio's exit status, its 'fio: ...' stderr lines and
    the job's options as written in the job file (global + section)."""
    row = new_row(**base)
    rep = report or {}
    opts = dict(job_opts)
    opts.update((job or {}).get("job options") or {})

    def pick(rep_key, opt_key, default=""):
        v = rep.get(rep_key)
        return v if v not in (None, "", "?") else opts.get(opt_key, default)

    engine = opts.get("ioengine", "")
    row["engine"] = engine
    if engine == "dmabuf_uring":
        row["source"] = pick("source", "dmabuf_src", "udmabuf")
        row["attach"] = pick("attach", "dmabuf_attach", "kernel")
    else:
        # A reference job through another engine (fio's io_uring, psync).
        fixed = "fixedbufs" in opts
        row["source"] = "host"
        row["attach"] = f"{engine}{'-fixedbufs' if fixed else ''}" if engine else ""
    row["exporter"] = rep.get("exporter") or ("host" if engine != "dmabuf_uring" else "")
    if row["exporter"] == "none":
        row["exporter"] = ""
    row["uapi_probe"] = rep.get("uapi_probe", "") if engine == "dmabuf_uring" else "n/a"
    for k in ("cpu_view", "placement", "target_driver", "engine_version"):
        if rep.get(k) not in (None, ""):
            row[k] = rep[k]
    row["rw"] = opts.get("rw", opts.get("readwrite", "read"))
    row["bs"] = opts.get("bs", opts.get("bsrange", ""))
    row["iodepth"] = opts.get("iodepth", "1")
    row["target"] = opts.get("filename", rep.get("target", ""))
    if job and job.get("hostname"):
        row["host"] = job["hostname"]

    m = metrics_from_fio(job) if job else {k: None for k in METRIC_KEYS}
    if report is not None and m.get("ios"):
        m["eagain"] = rep.get("eagain_reissues")
        m["bounce_mib"] = (rep.get("bounce_bytes") or 0) / (1 << 20)
    elif m.get("ios"):
        m["eagain"] = 0 if engine != "dmabuf_uring" else None
        m["bounce_mib"] = 0.0 if engine != "dmabuf_uring" else None

    errors = [e for e in (rep.get("errors") or []) if e]
    fio_err = int((job or {}).get("error") or 0)
    reason = ""
    if errors:
        reason = " | ".join(errors)
    elif fio_err:
        reason = f"fio error {fio_err} ({os.strerror(fio_err)})"
    if stderr_lines and (fio_err or errors or fio_rc) and not errors:
        reason = "; ".join([reason] + stderr_lines if reason else stderr_lines)
    crashed = fio_rc is not None and fio_rc < 0
    if crashed:
        try:
            sig = signal.Signals(-fio_rc).name
        except ValueError:
            sig = f"signal {-fio_rc}"
        reason = "; ".join([f"fio was killed by {sig}"] + ([reason] if reason else [])
                           + list(stderr_lines or []))
    elif job is None and not reason:
        reason = f"fio exited {fio_rc} without a result for this job"

    ok = job is not None and not fio_err and not errors and not crashed \
        and (fio_rc == 0 or m.get("ios"))
    if ok and not m.get("ios"):
        ok = False
        reason = reason or "no I/O was done"
    if ok:
        row["status"] = "ok"
        row.update(m)
    else:
        # Refused: stopped before any I/O (job start checks, missing device).
        # Failed: something went wrong after I/O started (verify, errno).
        row["status"] = "failed" if (m.get("ios") or crashed or fio_rc == 124) else "refused"
        row["reason"] = reason or f"fio exited {fio_rc}"
        row["ios"] = m.get("ios") or 0
    return row


# ---------------------------------------------------------------- files

def results_path(d):
    return Path(d) / "results.json"


def load_rows(d):
    """Rows of a results directory (or a results.json path); [] if none."""
    p = Path(d)
    if p.is_dir():
        p = results_path(p)
    if not p.is_file():
        return []
    doc = json.loads(p.read_text())
    return doc.get("rows", [])


def save_rows(d, rows):
    d = Path(d)
    d.mkdir(parents=True, exist_ok=True)
    tmp = d / f".results.json.{os.getpid()}"
    tmp.write_text(json.dumps({"format": FORMAT, "rows": rows}, indent=1) + "\n")
    tmp.rename(results_path(d))
    tmp = d / f".results.csv.{os.getpid()}"
    with open(tmp, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=COLUMNS, extrasaction="ignore")
        w.writeheader()
        for r in rows:
            w.writerow({k: ("" if r.get(k) is None else r.get(k)) for k in COLUMNS})
    tmp.rename(d / "results.csv")


# ---------------------------------------------------------------- grouping

def key_of(row):
    """What identifies 'the same measurement' across runs and directories."""
    return (row.get("scenario", ""), row.get("job", ""), row.get("iommu", ""))


def aggregate(rows):
    """{key: merged row}: runs of the same job in the same IOMMU mode (several
    boots, repeated runs) are averaged over their 'ok' rows; 'n' counts them.
    A key with no ok row keeps its latest row (status and reason)."""
    groups = {}
    for r in rows:
        groups.setdefault(key_of(r), []).append(r)
    out = {}
    for k, rs in groups.items():
        good = [r for r in rs if r.get("status") == "ok"]
        merged = dict((good or rs)[-1])
        merged["n"] = len(good)
        merged["labels_seen"] = {lk: sorted({str(r.get(lk, "")) for r in rs})
                                 for lk in LABEL_CHECK}
        for m in METRIC_KEYS:
            vals = [r[m] for r in good if r.get(m) is not None]
            merged[m] = sum(vals) / len(vals) if vals else None
            if len(vals) > 1 and m in ("iops", "bw_mib", "ns_per_io"):
                mean = merged[m]
                sd = math.sqrt(sum((v - mean) ** 2 for v in vals) / (len(vals) - 1))
                merged[m + "_sd_pct"] = 100.0 * sd / mean if mean else None
        out[k] = merged
    return out


def fmt(v, key=None):
    """A metric for a table: None -> '-', thousands with few digits."""
    if v is None or v == "":
        return "-"
    if isinstance(v, str):
        return v
    if key in ("ios", "eagain", "n"):
        return f"{int(v)}"
    a = abs(v)
    if a >= 1e5:
        return f"{v:,.0f}"
    if a >= 100:
        return f"{v:.0f}"
    if a >= 10:
        return f"{v:.1f}"
    return f"{v:.2f}"
