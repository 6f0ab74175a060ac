"""Read-only embedded stores: answered from a private temporary copy, because Chroma writes its files to read."""

from __future__ import annotations

import atexit
import shutil
import tempfile
from pathlib import Path


class CopyRefused(RuntimeError):
    """The read-only store cannot be read from a copy; the message names the cause and the fix."""


_copies: dict[Path, Path] = {}


def _size_mb(folder: Path) -> float:
    return sum(f.stat().st_size for f in folder.rglob("*") if f.is_file()) / (1024 * 1024)


def readable_copy(folder: Path, max_mb: float) -> Path:
    """A temporary copy of a read-only store (made once per process, removed at exit).

    Args:
        folder: the read-only store folder.
        max_mb: largest store copied; a larger one raises.
    Returns:
        The copy's folder: reads there see exactly what the store held when it was copied.
    Raises:
        CopyRefused: the store is too large to copy, or cannot be read or copied; the message names the fix.
    """
    folder = folder.resolve()
    if folder in _copies:
        return _copies[folder]
    fix = "make it writable, or copy it somewhere writable and pass --store COPY"
    try:
        size = _size_mb(folder)
        if size > max_mb:
            raise CopyRefused(f"the store {folder} is read-only and too large to read from a copy ({size:.0f} MiB > "
                             f"readonly_copy_mb {max_mb:g}); {fix}")
        target = Path(tempfile.mkdtemp(prefix="articleqa-readonly-")) / "store"
        # Locks and derived caches stay behind: the copy is only read, and caches live with the original.
        shutil.copytree(folder, target, ignore=shutil.ignore_patterns(".articleqa*"))
        for f in [target, *target.rglob("*")]:
            f.chmod(0o700 if f.is_dir() else 0o600)
    except OSError as exc:
        raise CopyRefused(f"the store {folder} is read-only and could not be copied to read it ({exc.strerror or exc});"
                         f" {fix}") from exc
    atexit.register(shutil.rmtree, target.parent, True)
    _copies[folder] = target
    return target
