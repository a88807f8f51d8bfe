"""The ``a2i3dem`` command line: one sub-command per module in :mod:`napari_a2i3dem.commands`.

Each module there defines ``register(subparsers)`` which adds its parser and sets
``func=run(args) -> int``. Errors this package raises on purpose (bad input, unreadable file)
end the program with one line on stderr and a non-zero exit status, never a traceback.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import pkgutil
import signal
import sys
from collections.abc import Sequence

from . import __version__, commands
from .commands._messages import error_text
from .core.errors import A2IError, Cancelled


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="a2i3dem",
        description="Self-supervised anisotropic-to-isotropic super-resolution of 3D EM stacks.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for info in sorted(pkgutil.iter_modules(commands.__path__), key=lambda m: m.name):
        if info.name.startswith("_"):
            continue
        module = importlib.import_module(f"{commands.__name__}.{info.name}")
        module.register(subparsers)
    return parser


class Terminated(KeyboardInterrupt):
    """SIGTERM (what batch schedulers send), raised where the program is, so that everything a
    Ctrl-C does runs too: a training saves its checkpoint, partial outputs and temporary files
    are removed."""


def _raise_terminated(_signum, _frame) -> None:
    raise Terminated()


@contextlib.contextmanager
def _sigterm_as_exception():
    try:
        previous = signal.signal(signal.SIGTERM, _raise_terminated)
    except ValueError:  # not the main thread (embedded use): leave signals alone
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        with _sigterm_as_exception():
            return int(args.func(args) or 0)
    except Terminated:
        print(f"a2i3dem {args.command}: terminated (SIGTERM); partial outputs removed",
              file=sys.stderr)
        return 143
    except Cancelled as exc:
        print(f"a2i3dem {args.command}: cancelled: {exc}", file=sys.stderr)
        return 130
    except KeyboardInterrupt:
        print(f"a2i3dem {args.command}: interrupted", file=sys.stderr)
        return 130
    except A2IError as exc:
        print(f"a2i3dem {args.command}: error: {error_text(exc)}", file=sys.stderr)
        return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
