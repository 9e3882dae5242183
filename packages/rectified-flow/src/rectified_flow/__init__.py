"""Flow Straight and Fast: Learning to Generate and Transfer Data with Rectified Flow.

Xingchao Liu, Chengyue Gong, Qiang Liu. ICLR 2023, arXiv:2209.03003.

Convention: X0 ~ pi_0 (noise / source) at t = 0, X1 ~ pi_1 (data / target) at t = 1,
X_t = t X1 + (1 - t) X0, velocity target X1 - X0.
"""

from rectified_flow._data import eight_gaussians, standard_normal
from rectified_flow._flow import interpolate, rectified_flow_loss, sample_time
from rectified_flow._metrics import energy_distance, sq_euclidean, straightness, transport_cost
from rectified_flow._models import SmallUNet, VelocityMLP, split
from rectified_flow._samplers import euler_sample, ode_sample, one_step, reflow_pairs
from rectified_flow._train import TrainState, independent_sampler, paired_sampler, train

__all__ = [
    "SmallUNet",
    "TrainState",
    "VelocityMLP",
    "eight_gaussians",
    "energy_distance",
    "euler_sample",
    "independent_sampler",
    "interpolate",
    "ode_sample",
    "one_step",
    "paired_sampler",
    "rectified_flow_loss",
    "reflow_pairs",
    "sample_time",
    "split",
    "sq_euclidean",
    "standard_normal",
    "straightness",
    "train",
    "transport_cost",
]
