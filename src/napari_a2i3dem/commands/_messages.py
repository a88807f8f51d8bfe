"""How the command line words errors: light (imports nothing heavy), used by ``cli.main``."""

from __future__ import annotations

from ..core.errors import GeometryUnknown

GEOMETRY_HINT = "give it with --spacing Z Y X (nm) or the up-sampling ratio with --ratio"


def error_text(exc: BaseException) -> str:
    """An error's message as the command line shows it: a missing spacing or ratio says which
    options give it (the core's messages name no front-end's controls)."""
    if isinstance(exc, GeometryUnknown):
        return f"{exc}; {GEOMETRY_HINT}"
    return str(exc)
