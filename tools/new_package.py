"""Scaffolds ``packages/<name>/`` following CONTRIBUTING.md: ``python tools/new_package.py NAME``.

The uv workspace picks the new folder up through its ``packages/*`` glob; ``make new`` then runs
``uv lock`` and ``uv sync`` itself, so only the updated ``uv.lock`` is left to commit. The
scaffold's placeholder claim fails until it is replaced by the paper's claim.
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

PYPROJECT = """\
[project]
name = "{name}"
version = "0.1.0"
description = "{title} (JAX re-implementation, part of jaxpapers)."
readme = "README.md"
requires-python = ">=3.11"
license = {{ text = "Apache-2.0" }}
dependencies = [
    "jaxpapers-shared",
    "jax>=0.4.35",
]

[project.optional-dependencies]
# What only reproduce.py and bench.py need (figures, progress bars, datasets).
reproduce = ["jaxpapers-shared[reproduce]"]

[build-system]
requires = ["hatchling>=1.25"]
build-backend = "hatchling.build"

[tool.hatch.build.targets.wheel]
packages = ["src/{module}"]

[tool.uv.sources]
jaxpapers-shared = {{ workspace = true }}
"""

README = """\
# {name}

JAX implementation of *{title}* (paper link and citation go here).

## Install

```bash
pip install {name}                 # the method (from the wheels `make wheels` builds)
pip install '{name}[reproduce]'    # + what the reproduction and the bench need
```

## Usage

```python
import {module}

print({module}.__all__)
```

## Reproduced claims

`make reproduce PKG={name}` (or `python -m {module}.reproduce`) prints the table below and writes
`results/{name}/results.json`; `make report` fills the table from it.

<!-- claims:start -->
<!-- claims:end -->

## Benchmarks

`make bench PKG={name}` (or `python -m {module}.bench`).

## Differs from the paper

## Citation

```bibtex
```
"""

INIT = '''\
"""{title}."""

__all__: list[str] = []
'''

REPRODUCE = '''\
"""Reproduces the central claim of *{title}*.

Claim (section/figure): ...
CPU-scale setup: ...
Pass criterion: ...
"""

from __future__ import annotations

from collections.abc import Sequence

from jaxpapers_shared import experiment
from jaxpapers_shared.experiment import at_most


def main(argv: Sequence[str] | None = None) -> int:
    args = experiment.parse_args(__doc__, argv, default_out="results/{name}")
    exp = experiment.Experiment("{name}", paper="{title}", args=args)
    with exp.section("scaffold"):
        # Fails (NaN never satisfies a bound) until replaced by the paper's claim, measured
        # against its baseline on the same seeds.
        exp.claim(
            "placeholder: replace with the paper's central claim",
            reference="-",
            ours=float("nan"),
            expect=at_most(0.0),
        )
    return exp.finish()


if __name__ == "__main__":
    raise SystemExit(main())
'''

BENCH = '''\
"""Benchmarks of {name} against its baseline, measured in one run (ratios, never asserts).

``python -m {module}.bench [--quick]``.
"""

from __future__ import annotations

from collections.abc import Sequence

import jax.numpy as jnp

from jaxpapers_shared import experiment, timing


def main(argv: Sequence[str] | None = None) -> None:
    args = experiment.parse_bench_args(__doc__, argv)
    # Replace with the method timed against its baseline (both warm, same inputs).
    x = jnp.ones((64, 64) if args.quick else (256, 256))
    seconds = timing.time_fn(lambda a: a @ a, x)
    print(timing.format_table(["what", "ms"], [["placeholder matmul", 1e3 * seconds]]))


if __name__ == "__main__":
    main()
'''

TEST_README = """\
from pathlib import Path

from jaxpapers_shared import testing

test_readme_example = testing.readme_tests(Path(__file__).parents[1] / "README.md")
"""

TEST_REPRODUCE = """\
import json

from {module} import reproduce


def test_quick_reproduction_passes(tmp_path):
    assert reproduce.main(["--quick", "--out", str(tmp_path)]) == 0
    results = json.loads((tmp_path / "results.json").read_text())
    assert results["package"] == "{name}"
    assert results["mode"] == "quick"
    assert results["claims"] and all(c["passed"] for c in results["claims"])
"""


def scaffold(name: str, title: str) -> Path:
    if not re.fullmatch(r"[a-z][a-z0-9]*(-[a-z0-9]+)*", name):
        raise SystemExit(f"PKG must be lower-case words joined by '-', got {name!r}.")
    module = name.replace("-", "_")
    pkg = ROOT / "packages" / name
    if pkg.exists():
        raise SystemExit(f"{pkg} already exists; not overwriting it.")
    files = {
        "pyproject.toml": PYPROJECT,
        "README.md": README,
        f"src/{module}/__init__.py": INIT,
        f"src/{module}/reproduce.py": REPRODUCE,
        f"src/{module}/bench.py": BENCH,
        "tests/test_reproduce.py": TEST_REPRODUCE,
        "tests/test_readme.py": TEST_README,
    }
    for rel, template in files.items():
        path = pkg / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(template.format(name=name, module=module, title=title))
    return pkg


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("name", help="distribution name, e.g. rectified-flow")
    parser.add_argument("--title", default="", help="the paper's title")
    args = parser.parse_args(argv)
    pkg = scaffold(args.name, args.title or args.name)
    print(
        f"created {pkg.relative_to(ROOT)}; next: fill in the method, reproduce.py (its "
        f"placeholder claim fails until replaced), bench.py and tests; commit uv.lock.",
        file=sys.stderr,
    )


if __name__ == "__main__":
    main()
