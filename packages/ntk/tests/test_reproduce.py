import json

import jax
import jax.numpy as jnp
import numpy as np

import ntk
from ntk import reproduce


def test_quick_reproduction_passes(tmp_path):
    # As a user runs it: float32 (this test process enables float64 for the kernel identities).
    with jax.enable_x64(False):
        assert reproduce.main(["--quick", "--out", str(tmp_path)]) == 0
    results = json.loads((tmp_path / "results.json").read_text())
    assert results["package"] == "ntk"
    assert results["mode"] == "quick"
    assert results["claims"] and all(c["passed"] for c in results["claims"])
    # Every claim is measured on every seed the run lists.
    assert all(c["seeds"] == results["seeds"] for c in results["claims"])


def test_decay_constants_of_exact_kernel_gd_are_eta_lambda_over_n():
    # On 8 points equally spaced on the circle the kernel is circulant: eigenvalues come in
    # equal pairs, whose eigenvectors eigh returns in an arbitrary basis of the pair's plane.
    _, x = reproduce.circle(8)
    kernel = np.asarray(ntk.analytic_kernels(x, depth=4).ntk, np.float64)
    spaces = reproduce.top_eigenspaces(kernel, 3)
    assert [basis.shape[1] for _, basis in spaces] == [1, 2, 2]
    lr, n = 1.0, 8
    residual = np.random.default_rng(0).normal(size=n)
    history = [residual]
    for _ in range(12):
        history.append(history[-1] - lr / n * kernel @ history[-1])
    measured = reproduce.decay_constants(np.stack(history), spaces, window=10)
    np.testing.assert_allclose(measured, [lr * lam / n for lam, _ in spaces], rtol=1e-6)
    # A component that does not decay at all reads as decay constant 0, not as a rate near 1.
    frozen = reproduce.decay_constants(np.stack([residual] * 12), spaces, window=10)
    np.testing.assert_allclose(frozen, 0.0, atol=1e-12)


def test_experiment_network_has_standard_normal_weights():
    net = reproduce.make_net(512, seed=3)
    weights = np.concatenate([np.ravel(w) for w, _ in net.weights()])
    assert abs(weights.mean()) < 0.01 and abs(weights.std() - 1.0) < 0.01
    again = reproduce.make_net(512, seed=3)
    pairs = zip(net.weights(), again.weights(), strict=True)
    assert all(bool(jnp.all(a == b)) for (a, _), (b, _) in pairs)


def test_data_parallel_training_is_plain_gradient_descent():
    # The reproduction's GD runs through the shared data-parallel step: on one device it is
    # theta <- theta - lr * grad, step for step (float32 weights: to float32 rounding).
    from flax import nnx

    _, x = reproduce.circle(8)
    y = jnp.sin(2 * jnp.arange(8.0))
    net = reproduce.make_net(16, 0)
    trained, outputs = reproduce.train(net, x, y, 5, 1.0)
    graphdef, params = nnx.split(net)

    def loss(p):
        out = nnx.merge(graphdef, p)(x)[:, 0]
        return 0.5 * jnp.mean((out - y) ** 2), out

    for t in range(5):
        (_, out), grads = jax.value_and_grad(loss, has_aux=True)(params)
        np.testing.assert_allclose(outputs[t], out, rtol=1e-5, atol=1e-6)
        params = jax.tree.map(lambda a, g: a - 1.0 * g, params, grads)
    for a, b in zip(jax.tree.leaves(nnx.state(trained)), jax.tree.leaves(params), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
