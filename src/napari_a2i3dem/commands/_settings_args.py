"""Command-line options made from the typed settings (``core.settings``): one definition of
each option's type, default, bounds, choices and help."""

from __future__ import annotations

import argparse
from collections.abc import Callable, Mapping
from typing import Any

from ..core.settings import SettingInfo, Settings


def _bounded(info: SettingInfo) -> Callable[[str], Any]:
    """argparse type: the setting's kind, within its bounds (a wrong value is a usage error)."""
    def convert(text: str):
        try:
            value = info.kind(text)
        except ValueError as exc:
            word = "a whole number" if info.kind is int else "a number"
            raise argparse.ArgumentTypeError(f"expected {word}, got {text!r}") from exc
        low, high = info.minimum, info.maximum
        if (low is not None and value < low) or (high is not None and value > high):
            span = f"between {low:g} and {high:g}" if high is not None else f"at least {low:g}"
            raise argparse.ArgumentTypeError(f"must be {span}, got {text}")
        return value
    convert.__name__ = info.kind.__name__
    return convert


def add_settings_arguments(parser: argparse.ArgumentParser, settings: type[Settings],
                           flags: Mapping[str, str], *, unset: tuple[str, ...] = ()) -> None:
    """Add an option for each ``setting name -> --flag`` of ``settings``; the ones named in
    ``unset`` default to ``None`` (the caller tells "not given" from the default)."""
    for name, flag in flags.items():
        info = settings.info(name)
        # a help that says its default already ("default: PyTorch's") is shown as it is
        words = info.help if "default" in info.help else f"{info.help} (default {info.default})"
        kwargs: dict[str, Any] = {"dest": name,
                                  "default": None if name in unset else info.default,
                                  "help": words}
        if info.kind is bool:
            kwargs["action"] = "store_true"
        elif info.choices is not None:
            kwargs["choices"] = info.choices
        else:
            kwargs["type"] = _bounded(info)
            kwargs["metavar"] = "N" if info.kind is int else "X"
        parser.add_argument(flag, **kwargs)


def settings_from_args(settings: type[Settings], args: argparse.Namespace,
                       flags: Mapping[str, str], **values: Any):
    """The validated settings from parsed options (plus ``values`` decided elsewhere); an
    option left unset (``None``) takes the setting's default."""
    given = {name: getattr(args, name) for name in flags if getattr(args, name) is not None}
    return settings.parse(given, **values)
