"""Subcommand dispatch of scripts/dmabuf-bench.

Each module in SUBCOMMANDS exposes add_parser(subparsers), which adds one
subcommand and sets `func` (called with the parsed args; returns the exit
status). Add a subcommand by adding its module name here.
"""

import argparse
import importlib
import sys

SUBCOMMANDS = ["vm", "overhead", "runner", "report", "compare", "plot", "witness"]


def build_parser():
    parser = argparse.ArgumentParser(
        prog="dmabuf-bench",
        description="Benchmark and regression tool for the dmabuf_uring fio engine.")
    sub = parser.add_subparsers(title="subcommands", metavar="SUBCOMMAND")
    for name in SUBCOMMANDS:
        try:
            module = importlib.import_module(f"dbu.{name}")
        except ImportError as e:
            _add_broken(sub, name, e)
            continue
        module.add_parser(sub)
    return parser


def _add_broken(sub, name, error):
    """A subcommand whose module fails to import reports that, not the others."""
    def fail(_args):
        print(f"dmabuf-bench: {name} is unavailable: {error}", file=sys.stderr)
        return 2
    p = sub.add_parser(name, help=f"(unavailable: {error})", add_help=False)
    p.add_argument("rest", nargs=argparse.REMAINDER)
    p.set_defaults(func=fail)


def main(argv=None):
    parser = build_parser()
    args = parser.parse_args(argv)
    if not hasattr(args, "func"):
        parser.print_help()
        return 2
    return args.func(args)
