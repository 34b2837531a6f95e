"""`dmabuf-bench report DIR`: the results of a directory as a table.

Rows of the same job in the same IOMMU mode (several boots or repeats) are
averaged (column n counts them; --all lists every run's row instead). Jobs
that were refused, skipped or failed show their reason and no numbers.

For iommu-cost, the table is followed by the ratios the scenario is for, per
queue depth: what each IOMMU mode costs the classic path (pages in a mode /
pages in passthrough), what the kernel attach gains in each mode (kernel /
pages) and where host/pages stands against fio's own io_uring engine.
"""

import sys
from pathlib import Path

from . import results as R

IOMMU_ORDER = {"off": 0, "strict": 1, "lazy": 2, "pt": 3}
COLS = [("job", "job"), ("source", "source"), ("attach", "attach"), ("iommu", "iommu"),
        ("device", "device"), ("exporter", "exporter"), ("uapi_probe", "uapi"),
        ("status", "status"), ("n", "n"),
        ("iops", "IOPS"), ("ns_per_io", "ns/IO"), ("bw_mib", "MiB/s"), ("clat_mean_us", "mean us"),
        ("clat_p50_us", "p50 us"), ("clat_p99_us", "p99 us"), ("clat_p999_us", "p99.9 us"),
        ("usr_cpu", "usr%"), ("sys_cpu", "sys%"), ("cpu_per_io_us", "CPU/IO us"),
        ("eagain", "EAGAIN"), ("reason", "reason")]
NUMERIC = set(R.METRIC_KEYS) | {"n"}
TRUNC = {"reason": 70, "placement": 60, "peer_witness": 40}


def columns(scen, rows=()):
    """p2p rows also say where the memory was (the report's placement) and,
    from the rig's peer BAR, what its witness found."""
    if scen != "p2p":
        return COLS
    i = [k for k, _ in COLS].index("exporter") + 1
    cols = COLS[:i] + [("placement", "memory")] + COLS[i:]
    if any(r.get("peer_witness") for r in rows):
        j = [k for k, _ in cols].index("status") + 1
        cols = cols[:j] + [("peer_witness", "device-memory witness")] + cols[j:]
    return cols


def sort_key(r):
    return (r.get("scenario", ""), r.get("job", "").split("/")[0],
            IOMMU_ORDER.get(r.get("iommu"), 9), r.get("job", ""), r.get("run_id", ""))


def table_rows(rows, all_rows=False):
    if all_rows:
        out = [dict(r, n=1 if r.get("status") == "ok" else 0) for r in rows]
    else:
        out = list(R.aggregate(rows).values())
    return sorted(out, key=sort_key)


def cell(r, key):
    v = r.get(key)
    if key in NUMERIC:
        return R.fmt(v, key)
    return "" if v is None else str(v)


def render_text(rows):
    lines = []
    for scen in sorted({r.get("scenario", "") for r in rows}):
        rs = [r for r in rows if r.get("scenario", "") == scen]
        cols = columns(scen, rs)
        lines.append(_title(scen, rs))
        table = [[h for _, h in cols]]
        for r in rs:
            cells = [cell(r, k) for k, _ in cols]
            for i, (k, _) in enumerate(cols):
                w = TRUNC.get(k)
                if w and len(cells[i]) > w:
                    cells[i] = cells[i][:w - 3] + "..."
            table.append(cells)
        widths = [max(len(t[i]) for t in table) for i in range(len(cols))]
        for n, t in enumerate(table):
            parts = []
            for i, (k, _) in enumerate(cols):
                parts.append(t[i].rjust(widths[i]) if k in NUMERIC else t[i].ljust(widths[i]))
            lines.append("  ".join(parts).rstrip())
            if n == 0:
                lines.append("  ".join("-" * w for w in widths))
        lines.append("")
    return "\n".join(lines)


def _md(s):
    return str(s).replace("|", "\\|").replace("\n", " ")


def render_markdown(rows):
    lines = []
    for scen in sorted({r.get("scenario", "") for r in rows}):
        rs = [r for r in rows if r.get("scenario", "") == scen]
        cols = columns(scen, rs)
        lines.append(f"### {_md(_title(scen, rs))}")
        lines.append("")
        lines.append("| " + " | ".join(h for _, h in cols) + " |")
        lines.append("|" + "|".join("---:" if k in NUMERIC else "---" for k, _ in cols) + "|")
        for r in rs:
            lines.append("| " + " | ".join(_md(cell(r, k)) for k, _ in cols) + " |")
        lines.append("")
    return "\n".join(lines)


def _title(scen, rs):
    def uniq(key):
        return ", ".join(sorted({str(r.get(key, "")) for r in rs if r.get(key)})) or "?"
    return (f"{scen}: device {uniq('device')}; kernel {uniq('kernel')}; "
            f"platform {uniq('platform')}; engine {uniq('engine_version')}; "
            f"{len({r.get('run_id') for r in rs})} run(s) shown as {len(rs)} row(s)")


# iommu-cost jobs: (file/section prefix, label) and the suffix is -qdN.
IOMMU_JOBS = {"host": "randread-4k/host-pages", "pages": "randread-4k/udmabuf-pages",
              "kernel": "randread-4k/udmabuf-kernel", "io_uring": "reference-io_uring/io_uring"}


def iommu_ratios(rows):
    """Lines of IOPS ratios of the iommu-cost scenario ('' when none apply)."""
    agg = {(r["job"], r.get("iommu")): r for r in R.aggregate(rows).values()
           if r.get("scenario") == "iommu-cost"}

    def iops(what, qd, mode):
        r = agg.get((f"{IOMMU_JOBS[what]}-qd{qd}", mode))
        return r.get("iops") if r and r.get("status") == "ok" else None

    def ratio(a, b):
        return f"{a / b:.3f}" if a and b else "-"

    qds = sorted({int(j.rsplit("-qd", 1)[1]) for j, _ in agg
                  if "-qd" in j and j.rsplit("-qd", 1)[1].isdigit()}, reverse=True)
    modes = [m for m in IOMMU_ORDER if any(k[1] == m for k in agg)]
    if not qds or not modes:
        return ""
    head = ["QD", "iommu", "host/pages", "udmabuf/pages", "udmabuf/kernel", "io_uring",
            "pages/pages@pt", "host/pages@pt", "kernel/pages", "host/io_uring"]
    table = [head]
    for qd in qds:
        for m in modes:
            v = {w: iops(w, qd, m) for w in IOMMU_JOBS}
            table.append([str(qd), m] + [R.fmt(v[w]) for w in IOMMU_JOBS] +
                         [ratio(v["pages"], iops("pages", qd, "pt")),
                          ratio(v["host"], iops("host", qd, "pt")),
                          ratio(v["kernel"], v["pages"]), ratio(v["host"], v["io_uring"])])
    widths = [max(len(t[i]) for t in table) for i in range(len(head))]
    lines = ["iommu-cost ratios (IOPS; '-': a side did not run):"]
    for n, t in enumerate(table):
        lines.append("  " + "  ".join(c.rjust(w) for c, w in zip(t, widths)))
        if n == 0:
            lines.append("  " + "  ".join("-" * w for w in widths))
    return "\n".join(lines) + "\n"


HELP = "print the results of a results directory as a table"


def add_parser(subparsers):
    p = subparsers.add_parser("report", help=HELP, description=HELP.capitalize() + ".")
    p.add_argument("dir", metavar="DIR", help="results directory (dmabuf-bench run --out)")
    p.add_argument("--markdown", action="store_true", help="GitHub Markdown tables")
    p.add_argument("--all", action="store_true",
                   help="one row per run instead of averaging runs of the same job+mode")
    p.add_argument("--scenario", action="append", default=[], help="only this scenario")
    p.set_defaults(func=_cmd_report)


def _cmd_report(args):
    if not R.results_path(args.dir).is_file():
        print(f"dmabuf-bench: error: {Path(args.dir) / 'results.json'} not found "
              "(write it with dmabuf-bench run --out DIR)", file=sys.stderr)
        return 2
    rows = R.load_rows(args.dir)
    if args.scenario:
        rows = [r for r in rows if r.get("scenario") in args.scenario]
    if not rows:
        print("dmabuf-bench: error: no rows", file=sys.stderr)
        return 2
    ratios = iommu_ratios(rows)
    rows = table_rows(rows, args.all)
    print(render_markdown(rows) if args.markdown else render_text(rows))
    if ratios:
        print(f"```\n{ratios}```" if args.markdown else ratios)
    return 0
