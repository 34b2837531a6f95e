"""`dmabuf-bench plot DIR`: PNG charts of a results directory (matplotlib Agg).

  iommu-cost.png  IOPS per IOMMU mode, grouped by how the memory is attached
                  (host/pages baseline, udmabuf/pages "before", udmabuf/kernel
                  "after", fio's io_uring reference), one panel per QD
  p2p.png         P2P bandwidth and CPU per I/O, kernel attach vs bounce, per
                  direction and block size
  SCENARIO.png    any other scenario (smoke): IOPS per job
Jobs without numbers (refused, skipped, failed) are drawn as an empty hatched
slot marked with their status, never as zero. Titles carry the labels
(device, kernel, platform, exporter).
"""

import argparse
import sys
from pathlib import Path

from . import results as R

MODE_ORDER = ["off", "strict", "lazy", "pt"]
ROLE = {("host", "pages"): "host/pages (baseline)",
        ("udmabuf", "pages"): "udmabuf/pages (before)",
        ("udmabuf", "kernel"): "udmabuf/kernel (after)"}


def _plt():
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    return plt


def _uniq(rows, key):
    return ", ".join(sorted({str(r.get(key)) for r in rows if r.get(key)})) or "?"


def _labels_line(rows):
    plat = _uniq(rows, 'platform')
    if "vm-tcg" in plat:
        plat += " (QEMU TCG: functional only, +-25 % noise)"
    if "vm-icount-waits" in plat:
        plat += " (QEMU icount; waits for the NVMe in host time)"
    elif "vm-icount" in plat:
        plat += " (QEMU icount: guest time = guest instructions)"
    return (f"device {_uniq(rows, 'device')} | kernel {_uniq(rows, 'kernel')} | "
            f"{plat} | engine {_uniq(rows, 'engine_version')}")


def _config(r):
    if r.get("engine") and r.get("engine") != "dmabuf_uring":
        return f"{r.get('attach')} (reference)"
    return ROLE.get((r.get("source"), r.get("attach")), f"{r.get('source')}/{r.get('attach')}")


def _bars(ax, groups, series, value, fmt_val, missing_txt):
    """groups: x labels; series: [(name, {group: row})]; value(row)->float|None."""
    import numpy as np
    n = max(len(series), 1)
    width = 0.8 / n
    x = np.arange(len(groups))
    top = max([value(r) or 0 for _, d in series for r in d.values()] + [1])
    for i, (name, d) in enumerate(series):
        xs = x - 0.4 + width * (i + 0.5)
        vals = [value(d[g]) if g in d else None for g in groups]
        bars = ax.bar(xs, [v or 0 for v in vals], width, label=name)
        for xi, v, g in zip(xs, vals, groups):
            if v is None:
                st = d[g].get("status", "absent") if g in d else "not run"
                ax.bar([xi], [top * 0.04], width, fill=False, hatch="//",
                       edgecolor=bars.patches[0].get_facecolor() if bars.patches else "grey")
                ax.text(xi, top * 0.05, missing_txt(st), ha="center", va="bottom",
                        rotation=90, fontsize=7)
            else:
                ax.text(xi, v, fmt_val(v), ha="center", va="bottom", fontsize=7, rotation=90)
    ax.set_xticks(x)
    ax.set_xticklabels(groups)
    ax.set_ylim(0, top * 1.3)
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    ax.grid(axis="y", alpha=0.3)


def _short(v):
    return f"{v / 1000:.1f}k" if v >= 1000 else f"{v:.0f}"


def plot_iommu(rows, out):
    plt = _plt()
    agg = list(R.aggregate(rows).values())
    panels = sorted({(r.get("rw"), r.get("bs"), r.get("iodepth")) for r in agg},
                    key=lambda p: -int(p[2]) if str(p[2]).isdigit() else 0)
    fig, axes = plt.subplots(len(panels), 1, figsize=(11, 4.2 * len(panels)), squeeze=False)
    modes = [m for m in MODE_ORDER if any(r.get("iommu") == m for r in agg)] + \
        sorted({r.get("iommu") for r in agg} - set(MODE_ORDER))
    for ax, (rw, bs, qd) in zip(axes[:, 0], panels):
        prs = [r for r in agg if (r.get("rw"), r.get("bs"), r.get("iodepth")) == (rw, bs, qd)]
        series = {}
        for r in prs:
            series.setdefault(_config(r), {})[r["iommu"]] = r
        order = sorted(series, key=lambda s: (("reference" in s), "after" in s, "before" in s, s))
        _bars(ax, modes, [(s, series[s]) for s in order], lambda r: r.get("iops"),
              _short, lambda st: st)
        ax.set_ylabel("IOPS")
        ax.set_xlabel("IOMMU mode (strict = DMA, lazy = DMA-FQ, pt = identity)")
        ax.set_title(f"{bs} {rw} QD{qd}: IOPS per IOMMU mode, before/after", fontsize=10)
    fig.suptitle(f"iommu-cost | {_labels_line(rows)}", fontsize=9)
    fig.tight_layout()
    fig.savefig(out, dpi=110)
    plt.close(fig)


def plot_p2p(rows, out):
    plt = _plt()
    agg = [r for r in R.aggregate(rows).values()
           if r.get("engine") == "dmabuf_uring" and r.get("job", "").startswith("seq/")]
    if not agg:
        agg = [r for r in R.aggregate(rows).values() if r.get("engine") == "dmabuf_uring"]
    multi = len({r.get("iommu") for r in agg}) > 1
    groups = sorted({(r.get("rw"), r.get("bs"), r.get("iommu")) for r in agg},
                    key=lambda g: (g[0], _bsval(g[1]), MODE_ORDER.index(g[2])
                                   if g[2] in MODE_ORDER else 9))
    names = [f"{g[0]} {g[1]}" + (f"\n{g[2]}" if multi else "") for g in groups]
    series = {}
    for r in agg:
        g = names[groups.index((r.get("rw"), r.get("bs"), r.get("iommu")))]
        series.setdefault(f"{r.get('attach')}" + (" (via RAM)" if r.get("attach") == "bounce"
                                                   else " (device to device)"
                                                   if r.get("attach") == "kernel" else ""),
                          {})[g] = r
    ser = [(s, series[s]) for s in sorted(series)]
    fig, axes = plt.subplots(2, 1, figsize=(11, 8.5))
    _bars(axes[0], names, ser, lambda r: r.get("bw_mib"), lambda v: f"{v:.0f}", lambda s: s)
    axes[0].set_ylabel("MiB/s")
    axes[0].set_title("P2P bandwidth: kernel attach vs bounce through RAM", fontsize=10)
    _bars(axes[1], names, ser,
          lambda r: None if r.get("usr_cpu") is None else r["usr_cpu"] + r["sys_cpu"],
          lambda v: f"{v:.0f}%", lambda s: s)
    axes[1].set_ylabel("CPU usr+sys % of one core")
    axes[1].set_title("P2P CPU use (bounce copies cost CPU)", fontsize=10)
    fig.suptitle(f"p2p | source {_uniq(agg, 'source')} exporter {_uniq(agg, 'exporter')} | "
                 f"{_labels_line(rows)}", fontsize=9)
    fig.tight_layout()
    fig.savefig(out, dpi=110)
    plt.close(fig)


def _bsval(bs):
    s = str(bs).lower()
    mult = {"k": 1 << 10, "m": 1 << 20, "g": 1 << 30}
    try:
        return int(s[:-1]) * mult[s[-1]] if s[-1:] in mult else int(s)
    except ValueError:
        return 0


def plot_generic(rows, scenario, out):
    plt = _plt()
    agg = sorted(R.aggregate(rows).values(), key=lambda r: (r.get("job"), r.get("iommu")))
    modes = sorted({r.get("iommu") for r in agg},
                   key=lambda m: MODE_ORDER.index(m) if m in MODE_ORDER else 9)
    jobs = list(dict.fromkeys(r.get("job") for r in agg))
    series = [(f"iommu={m}", {r["job"]: r for r in agg if r.get("iommu") == m}) for m in modes]
    fig, ax = plt.subplots(figsize=(max(8, 0.7 * len(jobs) + 3), 5))
    _bars(ax, jobs, series, lambda r: r.get("iops"), _short, lambda s: s)
    ax.set_xticklabels([j.split("/", 1)[-1] for j in jobs], rotation=45, ha="right", fontsize=7)
    ax.set_ylabel("IOPS")
    fig.suptitle(f"{scenario}: IOPS per job (hatched: no numbers) | {_labels_line(rows)}",
                 fontsize=9)
    fig.tight_layout()
    fig.savefig(out, dpi=110)
    plt.close(fig)


def plot_dir(d, outdir=None):
    rows = R.load_rows(d)
    outdir = Path(outdir or Path(d) / "plots")
    outdir.mkdir(parents=True, exist_ok=True)
    written = []
    for scen in sorted({r.get("scenario") for r in rows}):
        rs = [r for r in rows if r.get("scenario") == scen]
        out = outdir / f"{scen}.png"
        if scen == "iommu-cost":
            plot_iommu(rs, out)
        elif scen == "p2p":
            plot_p2p(rs, out)
        else:
            plot_generic(rs, scen, out)
        written.append(out)
    return written


HELP = "draw PNG charts of a results directory"


def add_parser(subparsers):
    p = subparsers.add_parser("plot", help=HELP, description=__doc__,
                              formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("dir", metavar="DIR", help="results directory")
    p.add_argument("--out", metavar="DIR", help="where to write the PNGs (default DIR/plots)")
    p.set_defaults(func=_cmd_plot)


def _cmd_plot(args):
    if not R.results_path(args.dir).is_file():
        print(f"dmabuf-bench: error: {Path(args.dir) / 'results.json'} not found",
              file=sys.stderr)
        return 2
    try:
        written = plot_dir(args.dir, args.out)
    except ImportError as e:
        print(f"dmabuf-bench: error: matplotlib is needed for plot ({e}); "
              "install python3-matplotlib and run with /usr/bin/python3", file=sys.stderr)
        return 2
    for w in written:
        print(w)
    return 0
