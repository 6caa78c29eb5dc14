"""Small tables shipped with protogen: class-name lists, hierarchies, best-known codes."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

from protogen.errors import InputError

BUNDLED_NAME_LISTS = ("cifar10", "cifar100", "mnist")


def data_path(filename: str) -> Path:
    """Path of a file shipped in ``protogen/data``."""
    return Path(str(resources.files(__name__).joinpath(filename)))


def read_class_names(spec: str) -> list[str]:
    """Class names from a bundled list (``cifar100``) or a file with one name per line.

    Blank lines and surrounding whitespace are ignored; duplicates and fewer than two names are
    errors, since every name must own one prototype.
    """
    path = Path(spec)
    if spec in BUNDLED_NAME_LISTS and not path.exists():
        path = data_path(f"{spec}.txt")
    if not path.is_file():
        raise InputError(f"class names {spec!r}: no such file and not a bundled list "
                         f"({', '.join(BUNDLED_NAME_LISTS)})")
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
