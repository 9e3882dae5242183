import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxpapers_shared import checks


@pytest.mark.parametrize("bad", [0.0, -0.1, float("nan"), float("inf"), np.float32("nan")])
def test_positive_rejects_nonpositive_and_nonfinite_naming_the_argument(bad):
    with pytest.raises(ValueError, match="`learning_rate` must be a finite number > 0"):
        checks.positive(bad, "learning_rate")


def test_positive_rejects_bools_strings_and_arrays():
    with pytest.raises(TypeError, match="`eta`"):
        checks.positive(True, "eta")
    with pytest.raises(TypeError, match="`eta`"):
        checks.positive("0.1", "eta")
    with pytest.raises(ValueError, match="scalar"):
        checks.positive(np.ones(3), "eta")
    assert checks.positive(0.0, "eta", allow_zero=True) == 0.0


def test_traced_values_pass_value_checks():
    @jax.jit
    def f(lr, x):
        checks.positive(lr, "lr")
        checks.finite(x, "x")
        return lr * x

    assert float(f(0.5, 2.0)) == 1.0


def test_in_range_respects_open_and_closed_ends():
    assert checks.in_range(1.0, "mixing", 0, 1, closed="right") == 1.0
    with pytest.raises(ValueError, match=r"`mixing` must be in \(0, 1\], got 0.0"):
        checks.in_range(0.0, "mixing", 0, 1, closed="right")


def test_integer_rejects_floats_bools_and_out_of_range():
    assert checks.integer(np.int64(3), "k", minimum=1) == 3
    for bad in (3.0, True):
        with pytest.raises(TypeError, match="`k` must be an integer"):
            checks.integer(bad, "k")
    with pytest.raises(ValueError, match=r"`k` must be an integer in \[1, inf\], got 0"):
        checks.integer(0, "k", minimum=1)


def test_one_of_lists_the_options():
    with pytest.raises(ValueError, match="`method` must be one of 'euler', 'rk4'; got 'eulr'"):
        checks.one_of("eulr", "method", ("euler", "rk4"))


def test_finite_names_the_leaf_and_catches_python_floats():
    with pytest.raises(ValueError, match=r"`params\['b'\]` contains 1 NaN/inf"):
        checks.finite({"a": jnp.ones(2), "b": jnp.array([1.0, jnp.nan])}, "params")
    with pytest.raises(ValueError, match="`theta` contains 1 NaN/inf"):
        checks.finite(float("nan"), "theta")
    checks.finite({"n": 3, "s": "text", "ok": jnp.zeros(2)}, "params")


def test_array_checks_shape_dtype_emptiness():
    x = checks.array([[1, 2]], "x", shape=(None, 2), dtype="float")
    assert x.dtype == jnp.result_type(float)
    with pytest.raises(ValueError, match=r"`x` must have shape \(\?, 3\), got x.shape=\(1, 2\)"):
        checks.array([[1.0, 2.0]], "x", shape=(None, 3))
    with pytest.raises(ValueError, match="`x` must have 2 axes"):
        checks.array([1.0], "x", ndim=2)
    with pytest.raises(ValueError, match="`x` must not be empty"):
        checks.array(jnp.zeros((0, 2)), "x")
    with pytest.raises(TypeError, match="`idx` must hold integers"):
        checks.array([1.0], "idx", dtype="int")


def test_same_shape_compares_leaf_by_leaf():
    checks.same_shape(
        (jnp.zeros(2), jnp.zeros((3, 4))), (jnp.ones(2), jnp.ones((3, 4))), ("a", "b")
    )
    with pytest.raises(ValueError, match="`x0` and `f\\(x0\\)` must have the same shape"):
        checks.same_shape(
            (jnp.zeros((2, 3)), jnp.zeros(4)), (jnp.zeros(2), jnp.zeros((3, 4))), ("x0", "f(x0)")
        )
