"""The README's own-loop example runs as written and reaches the accuracy it promises."""

import re
from pathlib import Path

README = Path(__file__).resolve().parents[1] / "README.md"


def test_readme_nn_example_trains_digits_above_90_percent():
    text = README.read_text()
    block = re.search(r"<!-- BEGIN nn-example -->\s*```python\n(.*?)```", text, re.S).group(1)
    namespace: dict = {}
    exec(compile(block, "README.md nn-example", "exec"), namespace)  # noqa: S102 - our README
    assert namespace["accuracy"] >= 0.9
