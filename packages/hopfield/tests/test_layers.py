import functools

import flax.linen as linen
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

import hopfield

NO_NORMS = dict(
    normalize_stored_pattern=False,
    normalize_stored_pattern_affine=False,
    normalize_state_pattern=False,
    normalize_state_pattern_affine=False,
    normalize_pattern_projection=False,
    normalize_pattern_projection_affine=False,
)
STATIC = dict(
    stored_pattern_as_static=True,
    state_pattern_as_static=True,
    pattern_projection_as_static=True,
    disable_out_projection=True,
    **NO_NORMS,
)


@functools.partial(nnx.jit, static_argnames=("return_association", "deterministic"))
def run(
    layer,
    inputs,
    stored_pattern_padding_mask=None,
    association_mask=None,
    return_association=False,
    deterministic=None,
):
    """One compiled call, shared by layers of the same structure (cheaper than eager ops)."""
    return layer(
        inputs,
        stored_pattern_padding_mask=stored_pattern_padding_mask,
        association_mask=association_mask,
        return_association=return_association,
        deterministic=deterministic,
    )


def _data(seed=0, b=2, s=3, n=7, d=8):
    ks = jax.random.split(jax.random.PRNGKey(seed), 2)
    return jax.random.normal(ks[0], (b, n, d)), jax.random.normal(ks[1], (b, s, d))


def test_static_layer_is_the_hopfield_update_and_its_iterations():
    stored, state = _data()
    beta = 0.8
    for steps_max in (0, 2):
        layer = hopfield.Hopfield(
            8, scaling=beta, update_steps_max=steps_max, update_steps_eps=1e-12,
            rngs=nnx.Rngs(0), **STATIC,
        )  # fmt: skip
        out = run(layer, (stored, state, stored))
        expected = jax.vmap(
            lambda q, x: hopfield.retrieve(q, x, beta, max_steps=steps_max + 1, tol=1e-12).state
        )(state, stored)
        np.testing.assert_allclose(out, expected, atol=1e-5)


def test_static_execution_defaults_to_beta_one():
    stored, state = _data(1)
    layer = hopfield.Hopfield(8, rngs=nnx.Rngs(0), **STATIC)
    expected = jax.vmap(lambda q, x: hopfield.update(q, x, 1.0))(state, stored)
    np.testing.assert_allclose(run(layer, (stored, state, stored)), expected, atol=1e-5)


def test_one_step_layer_matches_linen_multihead_attention():
    stored, state = _data(2, d=16)
    heads, head_dim = 4, 4
    ref = linen.MultiHeadDotProductAttention(num_heads=heads, qkv_features=16, out_features=16)
    variables = jax.jit(ref.init)(jax.random.PRNGKey(0), state, stored)
    expected = jax.jit(ref.apply)(variables, state, stored)

    layer = hopfield.Hopfield(16, num_heads=heads, rngs=nnx.Rngs(0), **NO_NORMS)
    p = variables["params"]
    for ours, theirs in ((layer.q_proj, "query"), (layer.k_proj, "key"), (layer.v_proj, "value")):
        ours.kernel[...] = p[theirs]["kernel"].reshape(16, heads * head_dim)
        ours.bias[...] = p[theirs]["bias"].reshape(-1)
    layer.out_proj.kernel[...] = p["out"]["kernel"].reshape(heads * head_dim, 16)
    layer.out_proj.bias[...] = p["out"]["bias"]
    np.testing.assert_allclose(run(layer, (stored, state, stored)), expected, atol=1e-5)


def test_read_out_without_the_softmax_matrix_equals_the_explicit_association():
    # The one-step layer divides (e v) by the row sums of e instead of forming softmax(.) first;
    # with a padding mask, a fully masked query and dropout, outputs and parameter gradients
    # equal those of the explicit path (return_association=True forms xi, then xi v).
    stored, state = _data(6, b=2, s=4, n=9)
    padding = jnp.zeros((2, 9), bool).at[:, 6:].set(True)
    assoc = jnp.zeros((1, 1, 4, 9), bool).at[:, :, 0, :].set(True)
    for dropout, deterministic in ((0.0, True), (0.5, False)):
        fast, explicit = (
            hopfield.Hopfield(8, num_heads=2, dropout=dropout, rngs=nnx.Rngs(0, dropout=1))
            for _ in range(2)
        )

        def loss(layer, explicit_path=False):
            out = layer(
                (stored, state, stored), stored_pattern_padding_mask=padding,
                association_mask=assoc, deterministic=deterministic,
                return_association=explicit_path,
            )  # fmt: skip
            out = out[0] if explicit_path else out
            return jnp.sum(jnp.sin(out)), out

        explicit_loss = functools.partial(loss, explicit_path=True)
        (_, out_fast), g_fast = nnx.jit(nnx.value_and_grad(loss, has_aux=True))(fast)
        (_, out_explicit), g_explicit = nnx.jit(nnx.value_and_grad(explicit_loss, has_aux=True))(
            explicit
        )
        np.testing.assert_allclose(out_fast, out_explicit, rtol=1e-5, atol=1e-6)
        assert jnp.all(out_fast[:, 0] == fast.out_proj.bias[...])  # masked query reads 0
        for a, b in zip(jax.tree.leaves(g_fast), jax.tree.leaves(g_explicit), strict=True):
            np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-6)


def test_grouped_read_out_equals_the_whole_batch_at_once():
    # associate_and_read processes large batches in groups of elements (lax.map); groups of 2
    # (with a remainder of 1) give the same outputs and gradients as the whole batch at once,
    # with a per-element padding mask and a mask shared by the batch.
    from hopfield._association import associate_and_read

    ks = jax.random.split(jax.random.PRNGKey(7), 3)
    q, k, v = (jax.random.normal(key, (5, 2, n, 4)) for key, n in zip(ks, (3, 6, 6), strict=True))
    beta = jnp.array([0.5, 2.0])
    padding = (jnp.arange(6)[None] >= jnp.array([6, 4, 2, 6, 1])[:, None])[:, None, None, :]
    shared = jnp.zeros((1, 1, 3, 6), bool).at[:, :, 0, :].set(True)
    for mask in (shared, padding | shared):

        def loss(q, k, v, group, mask=mask):
            out = associate_and_read(q, k, v, beta, mask, group_logits=group)
            return jnp.sum(jnp.sin(out)), out

        grad = jax.jit(jax.grad(loss, argnums=(0, 1, 2), has_aux=True), static_argnums=3)
        (*g_grouped, out_grouped) = jax.tree.leaves(grad(q, k, v, 2 * 2 * 3 * 6))
        (*g_whole, out_whole) = jax.tree.leaves(grad(q, k, v, 10**9))
        np.testing.assert_allclose(out_grouped, out_whole, rtol=1e-6, atol=1e-7)
        for a, b in zip(g_grouped, g_whole, strict=True):
            np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


def test_padding_mask_equals_dropping_the_padded_patterns():
    stored, state = _data(3)
    layer = hopfield.Hopfield(8, num_heads=2, rngs=nnx.Rngs(0))
    mask = jnp.zeros((2, 7), bool).at[:, 5:].set(True)
    out, xi = run(
        layer, (stored, state, stored), stored_pattern_padding_mask=mask, return_association=True
    )
    kept = run(layer, (stored[:, :5], state, stored[:, :5]))
    np.testing.assert_allclose(out, kept, atol=1e-5)
    assert jnp.all(xi[..., 5:] == 0)
    np.testing.assert_allclose(xi.sum(-1), 1.0, atol=1e-5)


def test_fully_masked_query_gives_zeros_and_finite_gradients():
    stored, state = _data(4)
    layer = hopfield.Hopfield(8, disable_out_projection=True, input_bias=False, rngs=nnx.Rngs(0))
    mask = jnp.zeros((1, 1, 3, 7), bool).at[:, :, 0, :].set(True)
    _, xi = run(layer, (stored, state, stored), association_mask=mask, return_association=True)
    assert jnp.all(xi[:, :, 0] == 0)

    graphdef, params, rest = nnx.split(layer, nnx.Param, ...)
    grads = jax.jit(
        jax.grad(
            lambda p: jnp.sum(
                nnx.merge(graphdef, p, rest)((stored, state, stored), association_mask=mask)
            )
        )
    )(params)
    assert all(bool(jnp.all(jnp.isfinite(g))) for g in jax.tree.leaves(grads))


def test_iterated_updates_converge_to_a_fixed_point_of_the_association():
    stored, state = _data(5)
    kw = dict(num_heads=2, scaling=4.0, update_steps_eps=1e-6)
    until = hopfield.Hopfield(8, update_steps_max=None, rngs=nnx.Rngs(0), **kw)
    many = hopfield.Hopfield(8, update_steps_max=50, rngs=nnx.Rngs(0), **kw)
    _, xi_until = run(until, (stored, state, stored), return_association=True)
    _, xi_many = run(many, (stored, state, stored), return_association=True)
    np.testing.assert_allclose(xi_until, xi_many, atol=1e-4)


def test_pooling_and_lookup_layers_shapes_and_parameters():
    stored, state = _data(6)
    pool = hopfield.HopfieldPooling(8, quantity=3, num_heads=2, rngs=nnx.Rngs(0))
    pooled, xi = run(pool, stored, return_association=True)
    assert pooled.shape == (2, 3 * 8) and xi.shape == (2, 2, 3, 7)
    assert pool.pooling_weights.shape == (1, 3, 8)
    assert np.std(np.asarray(pool.pooling_weights[...])) < 0.1  # N(0, 0.02^2) init

    lookup = hopfield.HopfieldLayer(
        8, quantity=11, lookup_weights_as_separated=True, lookup_targets_as_trainable=False,
        output_size=5, rngs=nnx.Rngs(0),
    )  # fmt: skip
    out, xi = run(lookup, state, return_association=True)
    assert out.shape == (2, 3, 5) and xi.shape == (2, 1, 3, 11)
    trained = nnx.state(lookup, nnx.Param)
    assert "lookup_weights" in trained and "target_weights" not in trained


def test_dropout_only_when_not_deterministic():
    stored, state = _data(7)
    layer = hopfield.Hopfield(8, dropout=0.5, rngs=nnx.Rngs(0))
    a = run(layer, (stored, state, stored), deterministic=True)
    b = run(layer, (stored, state, stored), deterministic=True)
    c = run(layer, (stored, state, stored), deterministic=False)
    np.testing.assert_array_equal(a, b)
    assert not np.allclose(a, c)


def test_connected_projection_reuses_the_key_projection():
    stored, state = _data(8)
    layer = hopfield.Hopfield(
        8, pattern_projection_as_connected=True, disable_out_projection=True,
        pattern_projection_as_static=True, rngs=nnx.Rngs(0), **NO_NORMS,
    )  # fmt: skip
    out, xi = run(layer, (stored, state, stored), return_association=True)
    values = layer.k_proj(stored)
    np.testing.assert_allclose(out, jnp.einsum("bsn,bnd->bsd", xi[:, 0], values), atol=1e-5)


def test_rejects_bad_layer_options():
    rngs = nnx.Rngs(0)
    with pytest.raises(ValueError, match="num_heads"):
        hopfield.Hopfield(10, num_heads=3, rngs=rngs)
    with pytest.raises(ValueError, match="normalize_stored_pattern"):
        hopfield.Hopfield(8, normalize_stored_pattern=False, rngs=rngs)
    with pytest.raises(ValueError, match="update_steps_eps"):
        hopfield.Hopfield(8, update_steps_eps=0.0, rngs=rngs)
    with pytest.raises(ValueError, match="update_steps_max"):
        hopfield.Hopfield(8, update_steps_max=-1, rngs=rngs)
    with pytest.raises(ValueError, match="scaling"):
        hopfield.Hopfield(8, scaling=-0.5, rngs=rngs)
    with pytest.raises(ValueError, match="hidden_size"):
        hopfield.Hopfield(8, hidden_size=4, state_pattern_as_static=True, rngs=rngs)


def test_rejects_bad_layer_inputs():
    stored, state = _data(9)
    layer = hopfield.Hopfield(8, num_heads=2, rngs=nnx.Rngs(0))
    with pytest.raises(ValueError, match="stored_pattern_padding_mask"):
        run(layer, (stored, state, stored), stored_pattern_padding_mask=jnp.zeros((2, 6), bool))
    with pytest.raises(ValueError, match="association_mask"):
        run(layer, (stored, state, stored), association_mask=jnp.zeros((2, 5, 7), bool))
    with pytest.raises(TypeError, match="association_mask"):
        run(layer, (stored, state, stored), association_mask=jnp.zeros((3, 7)))
    with pytest.raises(ValueError, match="state"):
        layer((stored, state[..., :4], stored))
    with pytest.raises(ValueError, match="same number N"):
        layer((stored, state, stored[:, :3]))
    pool = hopfield.HopfieldPooling(8, rngs=nnx.Rngs(0))
    with pytest.raises(ValueError, match="input"):
        pool((stored,))
    with pytest.raises(ValueError, match="pattern_projection_size"):
        hopfield.HopfieldLayer(8, pattern_projection_size=5, rngs=nnx.Rngs(0))
