"""Regenerates the package table of README.md from ``results/*/results.json``, and the claims
table of every package README that has a ``<!-- claims:start -->`` ... ``<!-- claims:end -->``
block from that package's full-mode results.

The table sits between ``<!-- papers:start -->`` and ``<!-- papers:end -->``. A package's
status: ``reproduced`` (full mode, all claims pass), ``N/M claims`` (full mode, some fail),
``quick only`` (only a quick run recorded), ``implemented`` (package exists, no results),
``planned`` (no package yet).
"""

from __future__ import annotations

import json
import re
from pathlib import Path

from jaxpapers_shared import experiment

ROOT = Path(__file__).resolve().parents[1]
START, END = "<!-- papers:start -->", "<!-- papers:end -->"
SUMMARY_START, SUMMARY_END = "<!-- summary:start -->", "<!-- summary:end -->"
CLAIMS_START, CLAIMS_END = "<!-- claims:start -->", "<!-- claims:end -->"

PAPERS = (
    ("cgs", "Convergent Graph Solvers"),
    ("dcc", "Dataset Condensation with Contrastive Signals"),
    (
        "gauge-diffusion",
        "On gauge freedom, conservativity and intrinsic dimensionality "
        "estimation in diffusion models",
    ),
    ("dcdm", "A Deep Conjugate Direction Method for Iteratively Solving Linear Systems"),
    ("convex-relu", "Efficient Global Optimization of Two-layer ReLU Networks"),
    (
        "opposing-signals",
        "Outliers with Opposing Signals Have an Outsized Effect on Neural Network Optimization",
    ),
    ("diffgrad", "diffGrad: An Optimization Method for Convolutional Neural Networks"),
    ("dl-theory", "The Principles of Deep Learning Theory"),
    ("lpinn", "Lagrangian PINNs: A causality-conforming solution to failure modes of PINNs"),
    ("topo-swaps", "Optimizing NOTEARS Objectives via Topological Swaps"),
    (
        "batch-size-lr",
        "Learning Rates as a Function of Batch Size: A Random Matrix Theory Approach",
    ),
    ("cbo", "Gradient is All You Need?"),
    ("kinetic-paths", "On Kinetic Optimal Probability Paths for Generative Models"),
    ("hard-constraint-moe", "Scaling physics-informed hard constraints with mixture-of-experts"),
    ("ntk", "Neural Tangent Kernel: Convergence and Generalization in Neural Networks"),
    ("gradient-coherence", "On the Generalization Mystery in Deep Learning"),
    ("deep-ntk-classifiers", "Wide and Deep Neural Networks Achieve Optimality for Classification"),
    (
        "holomorphic-ep",
        "Improving equilibrium propagation without weight symmetry through Jacobian homeostasis",
    ),
    ("gb-nn", "Sequential Training of Neural Networks with Gradient Boosting"),
    ("target-surrogates", "Target-based Surrogates for Stochastic Optimization"),
    (
        "simple-seg",
        "SimPLe: Similarity-Aware Propagation Learning for Weakly-Supervised Breast "
        "Cancer Segmentation",
    ),
    (
        "optimistic-omd",
        "Optimistic Online Mirror Descent for Bridging Stochastic and "
        "Adversarial Online Convex Optimization",
    ),
    ("adadagrad", "AdAdaGrad: Adaptive Batch Size Schemes for Adaptive Gradient Methods"),
    ("probconserv", "Learning Physical Models that Can Respect Conservation Laws"),
    ("hopfield", "Hopfield Networks is All You Need"),
    (
        "rectified-flow",
        "Flow Straight and Fast: Learning to Generate and Transfer Data with Rectified Flow",
    ),
    ("iter-sr", "Iterative Token Evaluation and Refinement for Real-World Super-Resolution"),
    ("neumeta", "Neural Metamorphosis"),
    ("lion-kappa", "Lion Secretly Solves Constrained Optimization: As Lyapunov Predicts"),
    (
        "sgd-stability",
        "The Implicit Regularization of Dynamical Stability in Stochastic Gradient Descent",
    ),
    (
        "local-lipschitz",
        "Efficiently Computing Local Lipschitz Constants of Neural Networks via Bound Propagation",
    ),
    (
        "llp-bp",
        "Learning from Label Proportions: Bootstrapping Supervised Learners via Belief Propagation",
    ),
    (
        "continual-meanfield",
        "Statistical mechanics of continual learning: variational "
        "principle and mean-field potential",
    ),
    ("comp-sum-losses", "Cross-Entropy Loss Functions: Theoretical Analysis and Applications"),
    (
        "barron-pde",
        "Neural Network Approximations of PDEs Beyond Linearity: A Representational Perspective",
    ),
    (
        "diffusion-generalization",
        "Generalization in diffusion models arises from geometry-adaptive harmonic representations",
    ),
)


def status(name: str) -> str:
    if not (ROOT / "packages" / name / "pyproject.toml").exists():
        return "planned"
    full = ROOT / "results" / name / "results.json"
    quick = ROOT / "results" / name / "quick" / "results.json"
    for path, mode in ((full, "full"), (quick, "quick")):
        if path.exists():
            results = json.loads(path.read_text())
            claims = results["claims"]
            passed = sum(c["passed"] for c in claims)
            if mode == "quick":
                return f"quick run only ({passed}/{len(claims)} claims)"
            if passed == len(claims):
                return f"reproduced ({passed}/{len(claims)} claims)"
            return f"partly reproduced ({passed}/{len(claims)} claims)"
    return "implemented, no results yet"


def table() -> str:
    rows = ["| # | package | paper | status |", "|---|---|---|---|"]
    for i, (name, title) in enumerate(PAPERS, 1):
        exists = (ROOT / "packages" / name).exists()
        link = f"[`{name}`](packages/{name})" if exists else f"`{name}`"
        rows.append(f"| {i} | {link} | {title} | {status(name)} |")
    return "\n".join(rows)


def summary() -> str:
    """The README's opening sentence: how many papers are implemented and reproduced."""
    states = [status(name) for name, _ in PAPERS]
    implemented = sum(s != "planned" for s in states)
    full = sum(s.startswith("reproduced") for s in states)
    partly = sum(s.startswith("partly") for s in states)
    return (
        f"**{implemented} of {len(PAPERS)} papers are implemented**, each as its own package; "
        f"{full} reproduce every checked claim in full mode and {partly} reproduce some of them "
        f"(the table below lists which; the rest are planned)."
    )


def fill(path: Path, start: str, end: str, content: str) -> bool:
    """Replaces the text between two marker lines of a file; False if the markers are absent."""
    text = path.read_text()
    pattern = re.compile(re.escape(start) + ".*?" + re.escape(end), re.S)
    if not pattern.search(text):
        return False
    path.write_text(pattern.sub(lambda _: f"{start}\n{content}\n{end}", text))
    return True


def main() -> int:
    if not fill(ROOT / "README.md", START, END, table()):
        raise SystemExit(f"README.md has no {START} ... {END} block to fill.")
    fill(ROOT / "README.md", SUMMARY_START, SUMMARY_END, summary())
    print(f"README.md: summary and table of {len(PAPERS)} packages updated.")
    # Package READMEs with a claims block get the table of their full-mode results.json.
    for results in sorted((ROOT / "results").glob("*/results.json")):
        readme = ROOT / "packages" / results.parent.name / "README.md"
        data = json.loads(results.read_text())
        if readme.exists() and data.get("mode") == "full":
            table_md = experiment.claims_markdown(data)
            if fill(readme, CLAIMS_START, CLAIMS_END, table_md):
                print(f"{readme.relative_to(ROOT)}: claims table updated.")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
