"""The `fastseg` command."""

from __future__ import annotations

import argparse
import sys


def _bench(args) -> int:
    from . import bench
    from .bench.runner import write_json

    peers = [p for p in args.compare.split(",") if p] if args.compare else []
    results = bench.run(args.filter, peers=peers, repeats=args.repeat, quick=args.quick)
    write_json(results, args.json)
    print(f"# results written to {args.json}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="fastseg", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    bench = commands.add_parser(
        "bench", help="run the benchmark suite against PyTorch/SciPy",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    bench.add_argument("--filter", default=None, help="regular expression on case names")
    bench.add_argument("--compare", default="torch,scipy",
                       help="comma-separated peers to time in the same run, when installed")
    bench.add_argument("--repeat", type=int, default=7, help="timed calls per case (median)")
    bench.add_argument("--quick", action="store_true", help="one timed call per case (smoke test)")
    bench.add_argument("--json", default="bench-results/bench.json", help="where to write the results")
    bench.set_defaults(run=_bench)
    return parser


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    return args.run(args)


if __name__ == "__main__":
    sys.exit(main())
