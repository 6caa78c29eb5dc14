"""Small tables shipped with protogen: class-name lists, hierarchies, best-known codes."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

from protogen.errors import InputError

BUNDLED_NAME_LISTS = ("cifar10", "cifar100", "mnist")


def data_path(filename: str) -> Path:
    """Path of a file shipped in ``protogen/data``."""
    return Path(str(resources.files(__name__).joinpath(filename)))


def resolve_bundled(spec: str, bundled, filename: str, what: str, kind: str) -> Path:
    """A user's file, or the shipped ``filename.format(spec)`` when ``spec`` names a bundled one
    (an existing file of that name wins); anything else is one clear error."""
    path = Path(spec)
    if spec in bundled and not path.exists():
        path = data_path(filename.format(spec))
    if not path.is_file():
        raise InputError(f"{what} {spec!r}: no such file and not a bundled {kind} "
                         f"({', '.join(bundled)})")
    return path


def read_class_names(spec: str) -> list[str]:
    """Class names from a bundled list (``cifar100``) or a file with one name per line.

    Blank lines and surrounding whitespace are ignored; duplicates and fewer than two names are
    errors, since every name must own one prototype.
    """
    path = resolve_bundled(spec, BUNDLED_NAME_LISTS, "{}.txt", "class names", "list")
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise InputError(f"class names {spec!r}: not a UTF-8 text file") from None
    names = [line.strip() for line in text.splitlines() if line.strip()]
    if len(names) < 2:
        raise InputError(f"class names {spec!r}: need at least two names, found {len(names)}")
    seen, dupes = set(), []
    for name in names:
        if name in seen:
            dupes.append(name)
        seen.add(name)
    if dupes:
        raise InputError(f"class names {spec!r}: duplicated names {', '.join(sorted(set(dupes)))}")
    return names
