"""benchmarks/_common.py: the section writer keeps everything outside its markers."""

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
import _common  # noqa: E402


def test_replace_section_changes_only_its_own_section(tmp_path):
    path = tmp_path / "R.md"
    before = ("# Results\n\n<!-- BEGIN a -->\nold a\n<!-- END a -->\n\n"
              "<!-- BEGIN b -->\nold b\n<!-- END b -->\ntail\n")
    path.write_text(before)
    _common.replace_section("a", "new a\n\n| x |", path)
    assert path.read_text() == ("# Results\n\n<!-- BEGIN a -->\nnew a\n\n| x |\n<!-- END a -->\n\n"
                                "<!-- BEGIN b -->\nold b\n<!-- END b -->\ntail\n")
    assert [p.name for p in tmp_path.iterdir()] == ["R.md"]  # no temporary file left behind
    with pytest.raises(SystemExit, match="BEGIN c"):
        _common.replace_section("c", "x", path)


def test_markdown_table_and_stamps():
    assert _common.markdown_table(["D", "angle"], [[3, "63.43"], [4, "90.00"]]) == (
        "| D | angle |\n|---|---|\n| 3 | 63.43 |\n| 4 | 90.00 |")
    assert _common.command_line(["benchmarks/x.py", "--note", "two words"]) == \
        "python benchmarks/x.py --note 'two words'"
    assert _common.markers("train") == ("<!-- BEGIN train -->", "<!-- END train -->")
    stamp = _common.utc_now()
    assert len(stamp) == 25 and stamp.endswith("+00:00")  # 2026-01-02T03:04:05+00:00
    assert _common.machine().endswith(" cores")
