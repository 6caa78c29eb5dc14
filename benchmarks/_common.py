"""What every benchmark script needs to stamp and write its section of benchmarks/RESULTS.md.

Each script owns one section between ``<!-- BEGIN name -->`` and ``<!-- END name -->``;
:func:`replace_section` rewrites only that part, atomically (temporary file + rename), so a
crash never leaves a half-written RESULTS.md. Import from a script in this folder with
``from _common import ...`` (Python puts the script's folder on sys.path).
"""

from __future__ import annotations

import datetime as _dt
import os
import platform
import shlex
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "RESULTS.md"


def cpu_model() -> str:
    """The CPU's model name from ``lscpu``, else what :mod:`platform` knows."""
    model = platform.processor() or platform.machine() or "unknown CPU"
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True, timeout=10).stdout
    except (OSError, subprocess.SubprocessError):
        return model
    return next((line.split(":", 1)[1].strip() for line in out.splitlines()
                 if line.startswith("Model name")), model)


def machine(*, torch_info: bool = False) -> str:
    """``"<CPU model>, <n> cores"``, plus the GPU (or "no GPU") and torch version if asked."""
    text = f"{cpu_model()}, {os.cpu_count()} cores"
    if torch_info:
        import torch

        gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "no GPU"
        text += f", {gpu}, torch {torch.__version__}"
    return text


def utc_now(fmt: str | None = None) -> str:
    """The current UTC time: ISO 8601 to the second, or ``strftime(fmt)``."""
    now = _dt.datetime.now(_dt.timezone.utc)
    return now.isoformat(timespec="seconds") if fmt is None else now.strftime(fmt)


def load_average() -> str:
    """The 1/5/15-minute load averages, e.g. ``"3.2, 2.9, 2.5"`` (``"n/a"`` where unknown)."""
    try:
        return ", ".join(f"{v:.1f}" for v in os.getloadavg())
    except OSError:
        return "n/a"


def command_line(argv: list[str] | None = None) -> str:
    """The command that ran this script, shell-quoted: ``python benchmarks/x.py --opt v``."""
    args = sys.argv if argv is None else argv
    return "python " + " ".join(shlex.quote(str(a)) for a in args)


def markers(name: str) -> tuple[str, str]:
    return f"<!-- BEGIN {name} -->", f"<!-- END {name} -->"


def replace_section(name: str, body: str, path: Path | str = RESULTS) -> None:
    """Replace what lies between the ``name`` markers of ``path`` by ``body`` (one newline after
    BEGIN and before END), atomically; everything outside the markers is kept byte for byte."""
    path = Path(path)
    begin, end = markers(name)
    text = path.read_text(encoding="utf-8")
    if text.count(begin) != 1 or text.count(end) != 1 or text.index(begin) > text.index(end):
        raise SystemExit(f"{path} needs exactly one {begin} ... {end} section")
    head, rest = text.split(begin, 1)
    _, tail = rest.split(end, 1)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(f"{head}{begin}\n{body}\n{end}{tail}")
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def markdown_table(header: list[str], rows: list[list]) -> str:
    """A GitHub markdown table; cells are written with ``str`` (format them before)."""
    lines = ["| " + " | ".join(map(str, header)) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(map(str, row)) + " |" for row in rows]
    return "\n".join(lines)
