import jax
import numpy as np
import pytest

from dl_theory import (
    LINEAR,
    RELU,
    TANH,
    Residual,
    finite_width_statistics,
    kernel_recursion,
    sample_mlp_ensemble,
    susceptibilities,
)

X = np.ones(16)


def test_relu_kurtosis_follows_the_exact_product_law():
    # With one input and C_b = 0, each ReLU layer multiplies G by (2/n) chi^2_B, B ~ Bin(n, 1/2),
    # whose second moment is 1 + 5/n: r = (1 + 5/n)^(L-1) - 1 exactly.
    n, L = 16, 3
    s = sample_mlp_ensemble(jax.random.PRNGKey(0), RELU, width=n, depth=L, C_b=0.0, C_W=2.0,
                            num_nets=20000, x=X, chunk=4096, track_gradients=False)  # fmt: skip
    st = finite_width_statistics(s)
    assert abs(st.r - ((1 + 5 / n) ** (L - 1) - 1)) < 4 * st.r_stderr
    assert abs(st.kernel / 2.0 - 1) < 4 * st.kernel_stderr / 2.0


def test_weight_sampler_and_gram_sampler_agree():
    kw = dict(width=24, depth=3, C_b=0.2, C_W=1.0, num_nets=600, x=np.stack([X, -0.5 * X]))
    a = sample_mlp_ensemble(jax.random.PRNGKey(1), TANH, method="conditional", **kw)
    b = sample_mlp_ensemble(jax.random.PRNGKey(2), TANH, method="weights", chunk=100, **kw)
    K = kernel_recursion(TANH, depth=3, C_b=0.2, C_W=1.0, x=kw["x"])
    chi_perp = susceptibilities(TANH, K[:, 0, 0], 1.0)[1]
    for s in (a, b):
        np.testing.assert_allclose(s.kernel.mean(0), K, rtol=0.05, atol=0.01)
        np.testing.assert_allclose(s.grad.mean(0)[1:], np.cumprod(chi_perp[:-1]), rtol=0.05)
    sa, sb = finite_width_statistics(a), finite_width_statistics(b)
    assert abs(sa.r - sb.r) < 4 * np.hypot(sa.r_stderr, sb.r_stderr)


def test_rao_blackwell_and_raw_agree_and_rb_has_lower_error():
    s = sample_mlp_ensemble(jax.random.PRNGKey(3), RELU, width=32, depth=4, C_b=0.0, C_W=2.0,
                            num_nets=4000, x=X, chunk=4000, track_gradients=False)  # fmt: skip
    rb = finite_width_statistics(s)
    raw = finite_width_statistics(s, estimator="raw")
    assert abs(rb.r - raw.r) < 4 * raw.r_stderr
    assert rb.r_stderr < raw.r_stderr


def test_residual_with_no_skip_is_the_plain_network():
    kw = dict(width=8, depth=4, C_b=0.0, C_W=1.0, num_nets=128, x=X)
    plain = sample_mlp_ensemble(jax.random.PRNGKey(4), TANH, **kw)
    res = sample_mlp_ensemble(jax.random.PRNGKey(4), TANH, residual=Residual(0.0, 1.0), **kw)
    for a, b in zip(plain[:6], res[:6], strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-12)


def test_linear_network_gradient_factor_is_one_on_average():
    s = sample_mlp_ensemble(jax.random.PRNGKey(5), LINEAR, width=64, depth=5, C_b=0.0, C_W=1.0,
                            num_nets=500, x=X)  # fmt: skip
    assert np.all(np.abs(s.grad.mean(0) - 1) < 0.05)


def test_bad_ensemble_inputs():
    kw = dict(depth=3, C_b=0.0, C_W=1.0, num_nets=10, x=X)
    with pytest.raises(ValueError, match="`width`"):
        sample_mlp_ensemble(jax.random.PRNGKey(0), TANH, width=0, **kw)
    with pytest.raises(ValueError, match="`depth`"):
        sample_mlp_ensemble(jax.random.PRNGKey(0), TANH, width=4, **{**kw, "depth": 0})
    with pytest.raises(ValueError, match="`num_nets`"):
        sample_mlp_ensemble(jax.random.PRNGKey(0), TANH, width=4, **{**kw, "num_nets": 0})
    with pytest.raises(ValueError, match="`x`"):
        sample_mlp_ensemble(jax.random.PRNGKey(0), TANH, width=4, **{**kw, "x": np.zeros(16)})
    s = sample_mlp_ensemble(jax.random.PRNGKey(0), TANH, width=4, **kw)
    with pytest.raises(ValueError, match=">= 100 networks"):
        finite_width_statistics(s)
