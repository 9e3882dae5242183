import numpy as np
import pytest

from hard_constraint_moe import pde as P
from hard_constraint_moe import reference as R


def test_reference_solution_properties():
    u0 = R.random_initial_conditions(0, 3, 16)
    assert u0.min() >= 0.05 - 1e-12 and u0.max() <= 0.3 + 1e-12
    u = R.diffusion_sorption(u0[0], 6)
    assert u.shape == (6, 16)
    np.testing.assert_array_equal(u[0], u0[0])
    assert np.all(u[1:, 0] == 1.0)  # Dirichlet inflow
    assert u[-1, 1] > u0[0, 1]  # the inflow front enters
    # refining the reference barely changes it (converged spatial discretisation)
    fine = R.diffusion_sorption(u0[0], 6, refine=4)
    assert np.max(np.abs(fine - u)) < 0.05


def test_reference_bad_input():
    with pytest.raises(ValueError, match="u0"):
        R.diffusion_sorption(np.array([0.1, -0.2, 0.1, 0.1]), 4)
    with pytest.raises(ValueError, match="nt"):
        R.diffusion_sorption(np.full(8, 0.1), 1)


def test_physics_loss_is_zero_only_for_a_solution_of_the_heat_equation():
    # u = 1 satisfies u_t = alpha u_xx and u(0) = 1, not u(1) = D u_x(1): only the BC term is left
    nt, nx = 5, 8
    _, _, dt, dx = P.grid(nt, nx, 500.0)
    u = np.ones((nt, nx))
    loss = float(P.physics_loss(P.Heat1D(), u, u[0], dt, dx))
    np.testing.assert_allclose(loss, 0.5 * 1.0, rtol=1e-12)
