"""Cross-Entropy Loss Functions: Theoretical Analysis and Applications (Mao, Mohri, Zhong 2023).

The comp-sum losses as optax-style per-example functions, their H-consistency bound functions
and conditional regrets, and smooth adversarial comp-sum training (PGD inner loop).
"""

from ._adversarial import (
    MLP,
    adversarial_loss,
    init_mlp,
    pgd_at_loss,
    pgd_attack,
    robust_accuracy,
    smooth_adv_comp_sum_loss,
    trades_loss,
    train,
)
from ._bounds import (
    best_conditional_risk,
    bound_gamma,
    bound_T,
    bounded_best_loss,
    conditional_regret,
    conditional_risk,
    minimizability_gap,
    zero_one_regret,
)
from ._losses import comp_sum_loss, gce_loss, logistic_loss, mae_loss, sum_exp_loss

__all__ = [
    "MLP",
    "adversarial_loss",
    "best_conditional_risk",
    "bound_T",
    "bound_gamma",
    "bounded_best_loss",
    "comp_sum_loss",
    "conditional_regret",
    "conditional_risk",
    "gce_loss",
    "init_mlp",
    "logistic_loss",
    "mae_loss",
    "minimizability_gap",
    "pgd_at_loss",
    "pgd_attack",
    "robust_accuracy",
    "smooth_adv_comp_sum_loss",
    "sum_exp_loss",
    "train",
    "trades_loss",
    "zero_one_regret",
]
