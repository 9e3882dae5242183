"""Fails if a package imports another paper's package or a library it does not declare.

For every ``packages/<name>``: the modules its ``src/`` imports must be its own, the standard
library, ``jaxpapers_shared``, or distributions in its ``pyproject.toml`` dependencies (or in
``jaxpapers-shared``'s, which it gets with it). Its ``tests/`` may also use the workspace's dev
dependency group. The same check runs on ``shared/`` (which may import no paper package).
"""

from __future__ import annotations

import ast
import importlib.metadata
import re
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def normalise(dist: str) -> str:
    return re.sub(r"[-_.]+", "-", dist).lower()


def requirement_names(requirements: list[str]) -> set[str]:
    return {normalise(re.split(r"[\s\[<>=!~;]", r, maxsplit=1)[0]) for r in requirements}


def declared(pyproject: Path, *, extras: bool = True) -> set[str]:
    project = tomllib.loads(pyproject.read_text())["project"]
    names = requirement_names(project.get("dependencies", []))
    if extras:
        for reqs in project.get("optional-dependencies", {}).values():
            names |= requirement_names(reqs)
    return names


def imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.add(node.module.split(".")[0])
    return found


def main() -> int:
    module_to_dists = {
        m: {normalise(d) for d in ds}
        for m, ds in importlib.metadata.packages_distributions().items()
    }
    packages = {
        p.name.replace("-", "_"): p
        for p in sorted((ROOT / "packages").glob("*/"))
        if (p / "pyproject.toml").exists()
    }
    root = tomllib.loads((ROOT / "pyproject.toml").read_text())
    dev = requirement_names(root.get("dependency-groups", {}).get("dev", []))
    shared_deps = declared(ROOT / "shared" / "pyproject.toml")
    problems = []
    units = [("jaxpapers_shared", ROOT / "shared")] + list(packages.items())
    for module, folder in units:
        own = declared(folder / "pyproject.toml") | {"jaxpapers-shared"}
        if module != "jaxpapers_shared":
            own |= shared_deps
        for section, allowed in (("src", own), ("tests", own | dev)):
            for path in sorted((folder / section).rglob("*.py")):
                for name in sorted(imports(path)):
                    rel = path.relative_to(ROOT)
                    if name in (module, "jaxpapers_shared") or name in sys.stdlib_module_names:
                        continue
                    if name in packages:
                        problems.append(
                            f"{rel}: imports paper package '{name}'; packages must "
                            f"stay independent (move general code to shared/)."
                        )
                        continue
                    # An optional extra may be absent from this venv: trust its declared name.
                    dists = module_to_dists.get(name) or (
                        {normalise(name)} if normalise(name) in allowed else None
                    )
                    if dists is None:
                        problems.append(
                            f"{rel}: imports '{name}', which no installed distribution provides."
                        )
                    elif not dists & allowed:
                        problems.append(
                            f"{rel}: imports '{name}' (from {sorted(dists)}) but "
                            f"{folder.name}/pyproject.toml does not declare it."
                        )
    for problem in problems:
        print(problem)
    print(f"independence: {len(units)} units checked, {len(problems)} problem(s)")
    return 1 if problems else 0


if __name__ == "__main__":
    raise SystemExit(main())
