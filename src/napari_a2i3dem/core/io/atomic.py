"""Atomic file writes: a temporary file in the target's folder, renamed into place when complete."""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

from ..errors import InputError, OutputExists


def _read_umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


_UMASK = _read_umask()  # read once at import: os.umask is process-wide and not thread-safe


@contextlib.contextmanager
def atomic_file(path: str | Path, suffix: str = ".tmp") -> Iterator[BinaryIO]:
    """Yield a binary handle whose contents replace ``path`` only if the block completes.

    The partial file is removed on any error or interruption, so ``path`` is either its old
    self or the complete new file, never half-written. The new file gets the usual mode (umask),
    not ``mkstemp``'s 0600. A folder that cannot be written (read-only, full, missing rights) is
    one :class:`InputError` naming it, raised before the block runs or when the file is made
    final.
    """
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=suffix, dir=path.parent)
    except OSError as exc:
        raise unwritable(path, exc) from exc
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        os.chmod(tmp, 0o666 & ~_UMASK)
        with open(tmp, "wb") as handle:  # a named handle: writers such as tifffile want one
            yield handle
            try:
                handle.flush()
                os.fsync(handle.fileno())
            except OSError as exc:
                raise unwritable(path, exc) from exc
        try:
            os.replace(tmp, path)
        except OSError as exc:
            raise unwritable(path, exc) from exc
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise


def same_file(a: Path, b: Path) -> bool:
    """Whether two paths name the same file (the same inode when both exist)."""
    try:
        if a.exists() and b.exists():
            return os.path.samefile(a, b)
    except OSError:
        pass
    return os.path.normcase(os.path.abspath(a.resolve())) == os.path.normcase(
        os.path.abspath(b.resolve()))


def unwritable(path: Path, exc: OSError) -> InputError:
    """The one-line error for an output that cannot be written."""
    return InputError(f"cannot write {path}: {exc.strerror or exc}")


def refuse_existing(*paths: str | Path | None, overwrite: bool = False) -> None:
    """The output policy of every command: an output path that already holds something (a
    file, a folder, a link) is left alone unless ``overwrite``; raises :class:`OutputExists`
    naming the first one, before any work is done. ``None`` entries are skipped."""
    if overwrite:
        return
    for path in paths:
        if path is None:
            continue
        path = Path(path)
        if path.is_symlink() or path.exists():
            raise OutputExists(f"{path} already exists and was left as it is")
