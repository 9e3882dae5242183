"""Runs the Python code blocks of a README as tests, exactly as a reader would paste them.

One line in a package's tests turns every ```` ```python ```` block of its README into a test::

    from pathlib import Path
    from jaxpapers_shared import testing

    test_readme_example = testing.readme_tests(Path(__file__).parents[1] / "README.md")

Each block runs on its own, in a fresh namespace, from a temporary working directory (so an
example that writes files leaves the repository clean). A block that is deliberately a fragment
(it needs names defined elsewhere) is marked by an HTML comment on the line before its fence::

    <!-- fragment: needs your own loss_fn and batch -->
    ```python
    ...
    ```

and is reported as skipped with that reason, never silently ignored. Needs pytest (a test-time
dependency only; importing this module does not import it).
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import re
import tempfile
from collections.abc import Callable
from pathlib import Path

__all__ = ["Example", "readme_examples", "readme_tests", "run_example"]

_FENCE = re.compile(r"^(?P<indent> *)```(?P<info>[^\n`]*)$")
_FRAGMENT = re.compile(r"^\s*<!--\s*fragment:\s*(?P<reason>.*?)\s*-->\s*$")


@dataclasses.dataclass(frozen=True)
class Example:
    """One Python block of a Markdown file.

    Attributes:
      path: the Markdown file.
      line: the line number of the opening fence (1-based).
      code: the block's source.
      skip: why the block is not run (a marked fragment), or ``""``.
    """

    path: Path
    line: int
    code: str
    skip: str = ""

    @property
    def id(self) -> str:
        return f"{self.path.name}:{self.line}"


def readme_examples(path: str | os.PathLike[str]) -> list[Example]:
    """The ```` ```python ```` (or ```` ```py ````) blocks of a Markdown file, in order."""
    path = Path(path)
    lines = path.read_text().splitlines()
    examples: list[Example] = []
    i = 0
    while i < len(lines):
        opening = _FENCE.match(lines[i])
        if not opening:
            i += 1
            continue
        info = opening["info"].strip().split()
        end = i + 1
        while end < len(lines) and not _FENCE.match(lines[end]):
            end += 1
        if end == len(lines):
            raise ValueError(f"{path}:{i + 1}: a code fence is never closed.")
        if info and info[0] in ("python", "py"):
            indent = len(opening["indent"])
            code = "\n".join(line[indent:] for line in lines[i + 1 : end]) + "\n"
            marker = _FRAGMENT.match(lines[i - 1]) if i > 0 else None
            examples.append(Example(path, i + 1, code, marker["reason"] if marker else ""))
        i = end + 1
    return examples


def run_example(example: Example) -> dict[str, object]:
    """Executes one block in a fresh ``__main__`` namespace from a temporary directory.

    Returns the namespace it leaves. A marked fragment is skipped through ``pytest.skip``.
    """
    if example.skip:
        import pytest

        pytest.skip(f"{example.id} is a fragment: {example.skip}")
    namespace: dict[str, object] = {"__name__": "__main__"}
    # Padding puts the block at its own lines, so a traceback points into the Markdown file.
    code = compile("\n" * example.line + example.code, str(example.path), "exec")
    with tempfile.TemporaryDirectory(prefix="readme-") as tmp, contextlib.chdir(tmp):
        exec(code, namespace)
    return namespace


def readme_tests(path: str | os.PathLike[str]) -> Callable[[Example], None]:
    """A pytest test, parametrized over the Python blocks of ``path``, that runs each one.

    Assign it to a module-level name starting with ``test_`` so pytest collects it.
    """
    import pytest

    examples = readme_examples(path)
    if not examples:
        raise ValueError(f"{path} has no ```python blocks to test.")

    @pytest.mark.parametrize("example", examples, ids=[e.id for e in examples])
    def test_readme_example(example: Example) -> None:
        run_example(example)

    return test_readme_example
