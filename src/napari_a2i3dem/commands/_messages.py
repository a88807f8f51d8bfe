"""How the command line words errors: light (imports nothing heavy), used by ``cli.main``."""

from __future__ import annotations

from ..core.errors import GeometryUnknown, OutputExists

GEOMETRY_HINT = "give it with --spacing Z Y X (nm) or the up-sampling ratio with --ratio"
OVERWRITE_HINT = "add --overwrite to replace it"


def error_text(exc: BaseException) -> str:
    """An error's message as the command line shows it: a missing spacing or ratio says which
    options give it (the core's messages name no front-end's controls)."""
    if isinstance(exc, GeometryUnknown):
        return f"{exc}; {GEOMETRY_HINT}"
    if isinstance(exc, OutputExists):
        return f"{exc}; {OVERWRITE_HINT}"
    return str(exc)
