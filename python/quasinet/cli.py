"""The ``quasinet`` command line."""

from __future__ import annotations

import argparse
import sys
from typing import List, Optional


class UserError(Exception):
    """A mistake in what the user asked for: reported as one line, exit status 1."""


def _cmd_demo(args) -> int:
    from . import demo

    demo.run(seed=args.seed, plot=args.plot)
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="quasinet", description="Feedforward networks on a C++ core.")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    p = sub.add_parser("demo", help="the notebook's story end to end, on its own data")
    p.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    p.add_argument("--plot", metavar="FILE.png", help="write the cost curves to this image (needs matplotlib)")
    p.set_defaults(func=_cmd_demo)
    return parser


def main(argv: Optional[List[str]] = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except (UserError, RuntimeError, OSError) as exc:
        print(f"quasinet {args.command}: error: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
