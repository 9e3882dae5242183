from pathlib import Path

from jaxpapers_shared import testing

test_readme_example = testing.readme_tests(Path(__file__).parents[1] / "README.md")
