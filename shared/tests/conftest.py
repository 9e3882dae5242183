import jax

# The IFT checks compare against finite differences at rel. error 1e-4: they need float64.
# Each package's tests run in their own pytest process, so this does not leak elsewhere.
jax.config.update("jax_enable_x64", True)
