"""Flax NNX Hopfield layers mirroring ``hflayers`` (ml-jku/hopfield-layers).

Ramsauer et al., "Hopfield Networks is All You Need", ICLR 2021, arXiv:2008.02217, Section 3.
The association is Eq. (10): ``Z = softmax(beta Q K^T) V`` with ``Q = R W_Q``, ``K = Y W_K``,
``V = Y W_V`` (raw state patterns R, raw stored patterns Y), optionally iterated in the
associative space (``update_steps_max``) before the values are read out.

All layers are batch-first: stored (B, N, d_y), state (B, S, d_r), projection (B, N, d_v).
Masks follow ``hflayers`` / PyTorch: ``True`` marks a stored pattern to IGNORE.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

from ._association import associate, associate_and_read
from ._checks import check_positive_float, check_positive_int

__all__ = ["Hopfield", "HopfieldLayer", "HopfieldPooling"]

_LAYER_NORM_EPS = 1e-5  # hflayers' default for every normalisation


class FixedPattern(nnx.Variable):
    """A pattern stored in a layer but not trained (``trainable=False``)."""


def _norm(size: int, enabled: bool, affine: bool, what: str, rngs: nnx.Rngs):
    if affine and not enabled:
        # hflayers asserts the same: an affine map on an un-normalised input is never applied.
        raise ValueError(
            f"`normalize_{what}_affine=True` requires `normalize_{what}=True`; affine "
            "normalisation without normalisation has no effect."
        )
    if not enabled:
        return None
    return nnx.LayerNorm(
        size, epsilon=_LAYER_NORM_EPS, use_bias=affine, use_scale=affine, rngs=rngs
    )


class Hopfield(nnx.Module):
    r"""Hopfield association layer (``hflayers.Hopfield``), Eq. (10) of the paper.

    .. math:: Z = \mathrm{softmax}(\beta\, Q K^\top)\, V, \quad Q = R W_Q,\ K = Y W_K,\
              V = Y W_V,

    with R the state (query) patterns, Y the stored patterns and an output projection after
    the heads are concatenated. With ``update_steps_max = t`` the association is iterated up to
    t more times in the associative space, ``Q <- softmax(beta Q K^T) K`` (Section 3), stopping
    per head once no association matrix in the batch changes by more than ``update_steps_eps``
    (Frobenius norm); ``update_steps_max=0`` is one association (plain attention).

    Args:
      input_size: feature size of the state patterns (and of stored patterns and projections
        unless ``stored_pattern_size`` / ``pattern_projection_size`` are given).
      hidden_size: associative dimension per head; default ``input_size // num_heads``.
      output_size: size of the output projection; default ``input_size``.
      pattern_size: value dimension per head; default ``hidden_size``.
      num_heads: parallel association heads.
      scaling: beta, a float or one float per head; default ``1 / sqrt(hidden_size)``, or 1.0
        when stored, state and projection are all static (the pure Hopfield update).
      update_steps_max: extra update steps after the first association (``>= 0``), or ``None``
        to iterate until convergence (forward-only: not reverse-differentiable).
      update_steps_eps: convergence threshold on the association matrices, > 0.
      normalize_stored_pattern, normalize_state_pattern, normalize_pattern_projection:
        LayerNorm on the raw inputs before projecting (on by default, as in hflayers).
      normalize_*_affine: learn the LayerNorm's scale and offset (on by default).
      normalize_hopfield_space, normalize_hopfield_space_affine: LayerNorm of Q and K per head
        in the associative space, before the first association (off by default).
      stored_pattern_as_static, state_pattern_as_static, pattern_projection_as_static: use the
        input as is (repeated for every head) instead of projecting it; its feature size must
        then equal ``hidden_size`` (``pattern_size`` for the projection).
      pattern_projection_as_connected: values reuse the stored-pattern projection,
        ``V = (Y W_K) W_V``, the paper's ``W_K W_V`` product; requires ``pattern_size ==
        hidden_size``.
      stored_pattern_size, pattern_projection_size: feature sizes of those inputs.
      association_activation: optional function applied to the layer output.
      dropout: dropout rate on the association matrix.
      input_bias: biases in the Q, K, V projections.
      disable_out_projection: return the concatenated heads, ``num_heads * pattern_size``.
      rngs: ``nnx.Rngs`` for initialisation (``params``) and dropout (``dropout``).

    Call: ``layer(input, *, stored_pattern_padding_mask=None, association_mask=None,
    deterministic=None, return_association=False)`` where ``input`` is one array (stored = state
    = projection: self-association) or a tuple ``(stored, state, projection)``. Returns
    (B, S, output) and, with ``return_association``, the (B, heads, S, N) association matrices
    (before dropout).

    Raises:
      ValueError: inconsistent sizes (``num_heads`` not dividing ``input_size`` when
        ``hidden_size`` is not given, static inputs of the wrong size), ``scaling`` <= 0,
        ``update_steps_max`` < 0, ``update_steps_eps`` <= 0, affine without normalisation.

    Differs from ``hflayers``: always batch-first; masks must be boolean (no additive float
    masks); no ``concat_bias_pattern`` / ``add_zero_association``; ``update_steps_max`` and
    ``update_steps_eps`` are one value for all heads; a query whose stored patterns are all
    masked gets a zero association row (PyTorch gives NaN).
    """

    def __init__(
        self,
        input_size: int,
        *,
        hidden_size: int | None = None,
        output_size: int | None = None,
        pattern_size: int | None = None,
        num_heads: int = 1,
        scaling: float | Sequence[float] | None = None,
        update_steps_max: int | None = 0,
        update_steps_eps: float = 1e-4,
        normalize_stored_pattern: bool = True,
        normalize_stored_pattern_affine: bool = True,
        normalize_state_pattern: bool = True,
        normalize_state_pattern_affine: bool = True,
        normalize_pattern_projection: bool = True,
        normalize_pattern_projection_affine: bool = True,
        normalize_hopfield_space: bool = False,
        normalize_hopfield_space_affine: bool = False,
        stored_pattern_as_static: bool = False,
        state_pattern_as_static: bool = False,
        pattern_projection_as_static: bool = False,
        pattern_projection_as_connected: bool = False,
        stored_pattern_size: int | None = None,
        pattern_projection_size: int | None = None,
        association_activation: Callable[[jax.Array], jax.Array] | None = None,
        dropout: float = 0.0,
        input_bias: bool = True,
        disable_out_projection: bool = False,
        rngs: nnx.Rngs,
    ):
        check_positive_int(input_size, "input_size")
        check_positive_int(num_heads, "num_heads")
        if hidden_size is None:
            if input_size % num_heads:
                raise ValueError(
                    f"`num_heads`={num_heads} must divide `input_size`={input_size} when "
                    "`hidden_size` (the per-head associative dimension) is not given."
                )
            hidden_size = input_size // num_heads
        check_positive_int(hidden_size, "hidden_size")
        pattern_size = hidden_size if pattern_size is None else pattern_size
        check_positive_int(pattern_size, "pattern_size")
        stored_size = input_size if stored_pattern_size is None else stored_pattern_size
        projection_size = input_size if pattern_projection_size is None else pattern_projection_size
        check_positive_int(stored_size, "stored_pattern_size")
        check_positive_int(projection_size, "pattern_projection_size")
        if update_steps_max is not None:
            check_positive_int(update_steps_max, "update_steps_max", minimum=0)
        check_positive_float(update_steps_eps, "update_steps_eps")
        if not 0.0 <= dropout < 1.0:
            raise ValueError(f"`dropout` must be in [0, 1), got {dropout}.")
        if pattern_projection_as_connected:
            if pattern_size != hidden_size:
                raise ValueError(
                    "`pattern_projection_as_connected=True` needs `pattern_size` == "
                    f"`hidden_size`, got {pattern_size} and {hidden_size}."
                )
            if stored_pattern_as_static:
                raise ValueError(
                    "`pattern_projection_as_connected=True` reuses the stored-pattern "
                    "projection, which `stored_pattern_as_static=True` removes."
                )
            if projection_size != stored_size:
                raise ValueError(
                    "`pattern_projection_as_connected=True` projects the pattern projection with "
                    f"W_K, so `pattern_projection_size`={projection_size} must equal "
                    f"`stored_pattern_size`={stored_size}."
                )
        for flag, size, need, name in (
            (state_pattern_as_static, input_size, hidden_size, "input_size"),
            (stored_pattern_as_static, stored_size, hidden_size, "stored_pattern_size"),
        ):
            if flag and size != need:
                raise ValueError(
                    f"a static input is used as is in every head, so `{name}`={size} must equal "
                    f"`hidden_size`={need}."
                )
        if (
            pattern_projection_as_static
            and not pattern_projection_as_connected
            and projection_size != pattern_size
        ):
            raise ValueError(
                "a static pattern projection is used as is in every head, so "
                f"`pattern_projection_size`={projection_size} must equal `pattern_size`="
                f"{pattern_size}."
            )

        static_execution = (
            stored_pattern_as_static and state_pattern_as_static and pattern_projection_as_static
        )
        if scaling is None:
            scaling = 1.0 if static_execution else 1.0 / math.sqrt(hidden_size)
        scaling_arr = np.broadcast_to(np.asarray(scaling, np.float32), (num_heads,)).copy()
        if np.ndim(scaling) > 1 or (np.ndim(scaling) == 1 and len(scaling) != num_heads):
            raise ValueError(
                f"`scaling` must be a float or one float per head ({num_heads}), got {scaling}."
            )
        if not np.all(np.isfinite(scaling_arr)) or np.any(scaling_arr <= 0):
            raise ValueError(f"`scaling` (beta) must be finite and > 0, got {scaling}.")

        self.num_heads = num_heads
        self.hidden_size = hidden_size
        self.pattern_size = pattern_size
        self.input_size = input_size
        self.stored_pattern_size = stored_size
        self.pattern_projection_size = projection_size
        self.scaling = tuple(float(s) for s in scaling_arr)
        self.update_steps_max = update_steps_max
        self.update_steps_eps = float(update_steps_eps)
        self.stored_pattern_as_static = stored_pattern_as_static
        self.state_pattern_as_static = state_pattern_as_static
        self.pattern_projection_as_static = pattern_projection_as_static
        self.pattern_projection_as_connected = pattern_projection_as_connected
        self.association_activation = association_activation

        self.norm_stored = _norm(
            stored_size, normalize_stored_pattern, normalize_stored_pattern_affine,
            "stored_pattern", rngs,
        )  # fmt: skip
        self.norm_state = _norm(
            input_size, normalize_state_pattern, normalize_state_pattern_affine,
            "state_pattern", rngs,
        )  # fmt: skip
        self.norm_projection = _norm(
            projection_size, normalize_pattern_projection, normalize_pattern_projection_affine,
            "pattern_projection", rngs,
        )  # fmt: skip
        self.norm_hopfield = _norm(
            hidden_size, normalize_hopfield_space, normalize_hopfield_space_affine,
            "hopfield_space", rngs,
        )  # fmt: skip

        # hflayers initialises the in-projections like torch.nn.MultiheadAttention: Xavier
        # uniform weights, zero biases.
        def linear(din, dout):
            return nnx.Linear(
                din, dout, use_bias=input_bias, kernel_init=nnx.initializers.xavier_uniform(),
                rngs=rngs,
            )  # fmt: skip

        hidden = num_heads * hidden_size
        self.q_proj = None if state_pattern_as_static else linear(input_size, hidden)
        self.k_proj = None if stored_pattern_as_static else linear(stored_size, hidden)
        value_in = hidden if pattern_projection_as_connected else projection_size
        self.v_proj = (
            None if pattern_projection_as_static else linear(value_in, num_heads * pattern_size)
        )
        out_in = num_heads * pattern_size
        if disable_out_projection:
            self.out_proj = None
            self.output_size = out_in
        else:
            self.output_size = input_size if output_size is None else output_size
            check_positive_int(self.output_size, "output_size")
            self.out_proj = nnx.Linear(out_in, self.output_size, rngs=rngs)
        self.dropout = nnx.Dropout(dropout, rngs=rngs)

    def _split_heads(self, x, static, size):
        b, n, _ = x.shape
        if static:
            return jnp.broadcast_to(x[:, None], (b, self.num_heads, n, x.shape[-1]))
        return x.reshape(b, n, self.num_heads, size).transpose(0, 2, 1, 3)

    def _check_inputs(self, stored, state, projection):
        for name, x, size in (
            ("stored", stored, self.stored_pattern_size),
            ("state", state, self.input_size),
            ("projection", projection, self.pattern_projection_size),
        ):
            if x.ndim != 3 or x.shape[-1] != size:
                raise ValueError(
                    f"`{name}` patterns must be (batch, count, {size}), got {x.shape}."
                )
        if not stored.shape[0] == state.shape[0] == projection.shape[0]:
            raise ValueError(
                "stored, state and projection must share the batch size, got "
                f"{stored.shape[0]}, {state.shape[0]}, {projection.shape[0]}."
            )
        if stored.shape[1] != projection.shape[1]:
            raise ValueError(
                "`stored` and `projection` must hold the same number N of patterns, got "
                f"{stored.shape[1]} and {projection.shape[1]}."
            )
        if stored.shape[1] == 0:
            raise ValueError("`stored` must hold at least one pattern, got N = 0.")

    def _mask(self, padding_mask, association_mask, b, s, n):
        target = (b, self.num_heads, s, n)
        mask = None
        if padding_mask is not None:
            padding_mask = jnp.asarray(padding_mask)
            if padding_mask.dtype != jnp.bool_:
                raise TypeError(
                    "`stored_pattern_padding_mask` must be boolean (True = ignore), got dtype "
                    f"{padding_mask.dtype}."
                )
            if padding_mask.shape != (b, n):
                raise ValueError(
                    f"`stored_pattern_padding_mask` must be (batch, N) = {(b, n)}, got "
                    f"{padding_mask.shape}."
                )
            mask = padding_mask[:, None, None, :]
        if association_mask is not None:
            association_mask = jnp.asarray(association_mask)
            if association_mask.dtype != jnp.bool_:
                raise TypeError(
                    "`association_mask` must be boolean (True = ignore), got dtype "
                    f"{association_mask.dtype}."
                )
            try:
                shape = np.broadcast_shapes(association_mask.shape, target)
            except ValueError:
                shape = None
            if shape != target:
                raise ValueError(
                    "`association_mask` must broadcast to (batch, heads, S, N) = "
                    f"{target}, got {association_mask.shape}."
                )
            mask = association_mask if mask is None else (mask | association_mask)
        return mask

    def __call__(
        self,
        input: jax.Array | tuple[jax.Array, jax.Array, jax.Array],
        *,
        stored_pattern_padding_mask: jax.Array | None = None,
        association_mask: jax.Array | None = None,
        deterministic: bool | None = None,
        return_association: bool = False,
    ):
        if isinstance(input, tuple | list):
            if len(input) != 3:
                raise ValueError(
                    "`input` must be one array or a tuple (stored, state, projection), got a "
                    f"tuple of {len(input)}."
                )
            stored, state, projection = (jnp.asarray(x) for x in input)
        else:
            stored = state = projection = jnp.asarray(input)
        self._check_inputs(stored, state, projection)
        b, s, n = state.shape[0], state.shape[1], stored.shape[1]
        mask = self._mask(stored_pattern_padding_mask, association_mask, b, s, n)

        if self.norm_stored is not None:
            stored = self.norm_stored(stored)
        if self.norm_state is not None:
            state = self.norm_state(state)
        if self.norm_projection is not None:
            projection = self.norm_projection(projection)

        q = state if self.q_proj is None else self.q_proj(state)
        k = stored if self.k_proj is None else self.k_proj(stored)
        v = projection
        if self.pattern_projection_as_connected:
            v = self.k_proj(v)
        if self.v_proj is not None:
            v = self.v_proj(v)
        q = self._split_heads(q, self.q_proj is None, self.hidden_size)
        k = self._split_heads(k, self.k_proj is None, self.hidden_size)
        value_static = self.v_proj is None and not self.pattern_projection_as_connected
        v = self._split_heads(
            v, value_static, v.shape[-1] // (1 if value_static else self.num_heads)
        )
        if self.norm_hopfield is not None:
            q, k = self.norm_hopfield(q), self.norm_hopfield(k)

        scaling = jnp.asarray(self.scaling, q.dtype)
        if self.update_steps_max == 0 and not return_association:
            # One association, weights not returned: read out without forming the normalised
            # (B, H, S, N) matrix (same numbers up to rounding, cheaper forward and backward).
            no_dropout = self.dropout.rate == 0 or (
                self.dropout.deterministic if deterministic is None else deterministic
            )
            weights_fn = (
                None if no_dropout else (lambda w: self.dropout(w, deterministic=deterministic))
            )
            out = associate_and_read(q, k, v, scaling, mask, weights_fn).reshape(b, s, -1)
        else:
            xi = associate(q, k, scaling, mask, self.update_steps_max, self.update_steps_eps)
            weights = self.dropout(xi, deterministic=deterministic)
            out = jnp.einsum("bhsn,bhnd->bshd", weights, v).reshape(b, s, -1)
        if self.out_proj is not None:
            out = self.out_proj(out)
        if self.association_activation is not None:
            out = self.association_activation(out)
        return (out, xi) if return_association else out


def _init_patterns(rngs, quantity, size, trainable):
    # hflayers draws pooling / lookup patterns from N(0, 0.02^2).
    value = 0.02 * jax.random.normal(rngs.params(), (1, quantity, size))
    return nnx.Param(value) if trainable else FixedPattern(value)


class HopfieldPooling(nnx.Module):
    r"""Hopfield pooling (``hflayers.HopfieldPooling``): learned state patterns query the input.

    The ``quantity`` state patterns (queries) are parameters initialised from N(0, 0.02^2); the
    input bag/sequence supplies the stored patterns and pattern projections, so the layer pools
    (B, N, d) to (B, quantity * output_size) (flattened, as hflayers does). Attention pooling
    with a learned prototype, Section 3 ("HopfieldPooling") of the paper.

    Args:
      input_size: feature size of the input patterns.
      quantity: number of learned state patterns (pooled outputs).
      trainable: whether the state patterns are trained (``nnx.Param``) or fixed.
      **hopfield_kwargs: any :class:`Hopfield` option (``num_heads``, ``scaling``, ...).

    Call: ``pool(input, *, stored_pattern_padding_mask=None, ...)`` with ``input`` one array
    (stored = projection) or ``(stored, projection)``; same keywords as :class:`Hopfield`.
    """

    def __init__(
        self,
        input_size: int,
        *,
        quantity: int = 1,
        trainable: bool = True,
        rngs: nnx.Rngs,
        **hopfield_kwargs,
    ):
        check_positive_int(quantity, "quantity")
        self.hopfield = Hopfield(input_size, rngs=rngs, **hopfield_kwargs)
        size = (
            self.hopfield.hidden_size
            if self.hopfield.state_pattern_as_static
            else self.hopfield.input_size
        )
        self.quantity = quantity
        self.pooling_weights = _init_patterns(rngs, quantity, size, trainable)

    def __call__(self, input, **kwargs):
        if isinstance(input, tuple | list):
            if len(input) != 2:
                raise ValueError(
                    "`input` must be one array or a tuple (stored, projection), got a tuple of "
                    f"{len(input)}."
                )
            stored, projection = input
        else:
            stored = projection = input
        stored = jnp.asarray(stored)
        if stored.ndim != 3:
            raise ValueError(f"`input` must be (batch, N, features), got {stored.shape}.")
        queries = jnp.broadcast_to(
            self.pooling_weights[...], (stored.shape[0], *self.pooling_weights.shape[1:])
        )
        result = self.hopfield((stored, queries, projection), **kwargs)
        if kwargs.get("return_association"):
            out, xi = result
            return out.reshape(out.shape[0], -1), xi
        return result.reshape(result.shape[0], -1)


class HopfieldLayer(nnx.Module):
    r"""Hopfield lookup layer (``hflayers.HopfieldLayer``): a trainable memory queried by input.

    ``quantity`` stored patterns (and, with ``lookup_weights_as_separated``, separate pattern
    projections, i.e. key-value pairs) are parameters initialised from N(0, 0.02^2); the input
    (B, S, d) is the state. Maps (B, S, d) to (B, S, output_size).

    Args:
      input_size: feature size of the input (state) patterns.
      quantity: number of stored patterns in the memory.
      trainable: whether the stored patterns are trained.
      lookup_weights_as_separated: learn separate target patterns (values) instead of reading
        out the stored patterns themselves.
      lookup_targets_as_trainable: whether those targets are trained.
      **hopfield_kwargs: any :class:`Hopfield` option.
    """

    def __init__(
        self,
        input_size: int,
        *,
        quantity: int = 1,
        trainable: bool = True,
        lookup_weights_as_separated: bool = False,
        lookup_targets_as_trainable: bool = True,
        rngs: nnx.Rngs,
        **hopfield_kwargs,
    ):
        check_positive_int(quantity, "quantity")
        self.hopfield = Hopfield(input_size, rngs=rngs, **hopfield_kwargs)
        size = (
            self.hopfield.hidden_size
            if self.hopfield.stored_pattern_as_static
            else self.hopfield.stored_pattern_size
        )
        self.quantity = quantity
        self.lookup_weights = _init_patterns(rngs, quantity, size, trainable)
        targets = None
        if lookup_weights_as_separated:
            targets = _init_patterns(
                rngs, quantity, self.hopfield.pattern_projection_size, lookup_targets_as_trainable
            )
        elif self.hopfield.pattern_projection_size != size:
            raise ValueError(
                "without `lookup_weights_as_separated` the stored patterns double as pattern "
                f"projections, so `pattern_projection_size`="
                f"{self.hopfield.pattern_projection_size} must equal their size {size}."
            )
        self.target_weights = targets

    def __call__(self, input, **kwargs):
        state = jnp.asarray(input)
        if state.ndim != 3:
            raise ValueError(f"`input` must be (batch, S, features), got {state.shape}.")
        b = state.shape[0]
        stored = jnp.broadcast_to(self.lookup_weights[...], (b, *self.lookup_weights.shape[1:]))
        targets = stored
        if self.target_weights is not None:
            targets = jnp.broadcast_to(
                self.target_weights[...], (b, *self.target_weights.shape[1:])
            )
        return self.hopfield((stored, state, targets), **kwargs)
