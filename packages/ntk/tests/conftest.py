import jax

# Kernel identities are checked to ~1e-8; this package's tests run in their own process.
jax.config.update("jax_enable_x64", True)
