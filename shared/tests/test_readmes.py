"""Every Python block of the repository's own READMEs (the root one and shared/) runs as pasted."""

from pathlib import Path

from jaxpapers_shared import testing

ROOT = Path(__file__).resolve().parents[2]

test_root_readme_example = testing.readme_tests(ROOT / "README.md")
test_shared_readme_example = testing.readme_tests(ROOT / "shared" / "README.md")
