from hard_constraint_moe import reproduce
from jaxpapers_shared import experiment


def test_claim_a_passes(tmp_path):
    args = experiment.parse_args(reproduce.__doc__, ["--quick", "--out", str(tmp_path)])
    exp = experiment.Experiment("hard-constraint-moe", paper=reproduce.PAPER, args=args, seeds=(0,))
    reproduce.claim_a(exp)
    assert len(exp.claims) == 4 and all(c.passed for c in exp.claims)
