"""Shared checks for CLI tests (importable because pytest puts tests/ on sys.path)."""


def assert_one_line_error(result, *fragments):
    """Exit code 2, exactly one non-blank output line starting with 'Error:', no traceback."""
    assert result.exit_code == 2, result.output
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("Error:"), result.output
    assert "Traceback" not in result.output
    for fragment in fragments:
        assert fragment in lines[0], lines[0]
