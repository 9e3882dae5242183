import jax
import jax.numpy as jnp
import numpy as np
import pytest

from adadagrad import AdaptiveBatchSchedule, adagrad_norm, per_example_grads, train


def _noisy(n, seed, mean):
    rng = np.random.default_rng(seed)
    return {"w": jnp.asarray(mean + rng.normal(size=(n, 5)), jnp.float32)}


def test_batch_sizes_never_decrease_and_respect_cap():
    schedule = AdaptiveBatchSchedule(b0=4, max_batch=1000, eta=0.5, bucket=None)
    state, sizes = schedule.init(), []
    for k, mean in enumerate([0.05, 3.0, 3.0, 0.01, 10.0, 0.001]):  # noisy, clean, noisy...
        state = schedule.update(state, _noisy(state.batch_size, k, mean))
        sizes.append(state.batch_size)
    assert np.all(np.diff(sizes) >= 0) and sizes[-1] <= 1000
    assert sizes[-1] == 1000  # a near-zero mean gradient asks for the cap


def test_pow2_buckets_and_cap_after_rounding():
    schedule = AdaptiveBatchSchedule(b0=8, max_batch=600)
    assert schedule.round_up(9) == 16 and schedule.round_up(513) == 1024
    state = schedule.init()
    state = schedule.update(state, _noisy(8, 0, 0.001))
    assert state.batch_size == 600  # capped after bucketing


def test_test_interval_skips_steps():
    schedule = AdaptiveBatchSchedule(b0=4, max_batch=1000, test_interval=2, bucket=None)
    state = schedule.init()
    state = schedule.update(state, _noisy(4, 0, 0.01))  # step 0: tested
    grown = state.batch_size
    state = schedule.update(state, _noisy(grown, 1, 0.0001))  # step 1: not tested
    assert grown > 4 and state.batch_size == grown


@pytest.mark.parametrize(
    "kwargs, name",
    [
        (dict(eta=0.0), "eta"),
        (dict(eta=1.0), "eta"),
        (dict(theta=-1.0), "theta"),
        (dict(nu=1.5), "nu"),
        (dict(b0=1), "b0"),
        (dict(b0=16, max_batch=8), "max_batch"),
        (dict(bucket="log"), "bucket"),
        (dict(test="gradient"), "test"),
        (dict(test_interval=0), "test_interval"),
    ],
)
def test_bad_schedule_arguments_name_the_argument(kwargs, name):
    with pytest.raises(ValueError, match=name):
        AdaptiveBatchSchedule(**kwargs)


def _setup():
    w_star = jnp.array([1.0, -2.0, 0.5])

    def loss(w, ex):
        x, y = ex
        return 0.5 * (x @ w - y) ** 2

    def sampler(key, size):
        x = jax.random.normal(key, (size, 3))
        return x, x @ w_star + 0.5 * jax.random.normal(jax.random.fold_in(key, 1), (size,))

    return loss, sampler, w_star


def test_train_draws_batches_of_the_chosen_size_and_counts_samples():
    loss, sampler, _ = _setup()
    seen = []
    schedule = AdaptiveBatchSchedule(b0=4, max_batch=256, eta=0.5)
    wrapped = lambda key, size: (seen.append(size), sampler(key, size))[1]  # noqa: E731
    result = train(
        loss, jnp.zeros(3), wrapped, adagrad_norm(0.5), schedule, 5000, jax.random.key(0)
    )
    h = result.history
    assert seen == h["batch_size"]
    assert np.all(np.diff(h["batch_size"]) >= 0) and max(h["batch_size"]) <= 256
    assert h["samples"] == list(np.cumsum(h["batch_size"]))
    assert h["samples"][-1] >= 5000 and h["samples"][-2] < 5000
    assert result.compilations <= 8  # pow2 buckets: 4, 8, ..., 256 (tested + untested)


def test_training_loop_test_statistic_equals_schedule_update():
    loss, sampler, _ = _setup()
    schedule = AdaptiveBatchSchedule(b0=16, max_batch=4096, eta=0.3, bucket=None)
    params = jnp.array([0.3, 0.1, -0.2])
    batch = sampler(jax.random.key(1), 16)
    expected = schedule.update(schedule.init(), per_example_grads(loss, params, batch))
    result = train(
        loss, params, lambda k, s: batch, adagrad_norm(0.1), schedule, 16, jax.random.key(0)
    )
    assert result.schedule_state.batch_size == expected.batch_size


def test_adaptive_run_converges_further_in_the_same_steps():
    loss, sampler, w_star = _setup()
    steps = dict(max_steps=60)
    const = train(
        loss, jnp.zeros(3), sampler, adagrad_norm(1.0), 4, 10**9, jax.random.key(0), **steps
    )
    ada = train(
        loss,
        jnp.zeros(3),
        sampler,
        adagrad_norm(1.0),
        AdaptiveBatchSchedule(b0=4, max_batch=4096, eta=0.5),
        10**9,
        jax.random.key(0),
        **steps,
    )
    err = lambda r: float(jnp.sum((r.params - w_star) ** 2))  # noqa: E731
    assert err(ada) < 0.2 * err(const)


def test_train_rejects_bad_budget():
    loss, sampler, _ = _setup()
    with pytest.raises(ValueError, match="max_samples"):
        train(loss, jnp.zeros(3), sampler, adagrad_norm(0.1), 8, 0, jax.random.key(0))
    with pytest.raises(ValueError, match="schedule"):
        train(loss, jnp.zeros(3), sampler, adagrad_norm(0.1), 0, 10, jax.random.key(0))
