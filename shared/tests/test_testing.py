import pytest

from jaxpapers_shared import testing

DOC = """# Title

```python
x = 1 + 1
print("two", x)
```

```bash
make test
```

<!-- fragment: needs a loss_fn -->
```python
step(loss_fn)
```

- a list item with a block:

  ```py
  y = [i for i in range(3)]
  assert y == [0, 1, 2]
  ```

```python
raise ValueError("boom")
```
"""


@pytest.fixture
def readme(tmp_path):
    path = tmp_path / "README.md"
    path.write_text(DOC)
    return path


def test_finds_python_blocks_only_with_lines_and_fragments(readme):
    examples = testing.readme_examples(readme)
    assert [e.line for e in examples] == [3, 13, 19, 24]
    assert examples[0].code == 'x = 1 + 1\nprint("two", x)\n'
    assert examples[1].skip == "needs a loss_fn" and not examples[0].skip
    assert examples[2].code.startswith("y = [i")  # indentation of the list item removed


def test_runs_a_block_in_a_fresh_namespace_and_reports_the_readme_line(readme, capsys):
    first, _, listed, failing = testing.readme_examples(readme)
    assert testing.run_example(first)["x"] == 2 and "two 2" in capsys.readouterr().out
    assert "x" not in testing.run_example(listed)
    with pytest.raises(ValueError, match="boom") as info:
        testing.run_example(failing)
    frame = info.traceback[-1]
    assert str(frame.path) == str(readme) and frame.lineno + 1 == 25


def test_a_fragment_is_skipped_visibly(readme):
    fragment = testing.readme_examples(readme)[1]
    with pytest.raises(pytest.skip.Exception, match="README.md:13 is a fragment: needs a loss_fn"):
        testing.run_example(fragment)


def test_unclosed_fence_and_empty_readme_are_errors(tmp_path):
    bad = tmp_path / "bad.md"
    bad.write_text("```python\nx = 1\n")
    with pytest.raises(ValueError, match="never closed"):
        testing.readme_examples(bad)
    empty = tmp_path / "empty.md"
    empty.write_text("# nothing\n")
    with pytest.raises(ValueError, match="no ```python blocks"):
        testing.readme_tests(empty)
