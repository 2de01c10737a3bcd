"""numba-compiled kernels. Internal: call them through `minicnn.functional`, which checks the inputs."""
