"""numpy's own BLAS matrix product, for numba kernels to call on one thread each.

numpy's wheels ship OpenBLAS, whose single-precision product reaches about 85 GFLOP/s on one core of an AVX2
machine, and it picks its kernels for the CPU it runs on (AVX2, AVX-512, NEON, ...). minicnn's kernels call
its ``cblas_sgemm`` / ``cblas_dgemm`` from inside their jobs (`minicnn.kernels.launch`): each thread
multiplies its own blocks, with OpenBLAS held to one thread (`one_thread`) so two thread pools never fight
over the cores (two OpenBLAS threads inside each of minicnn's threads made a LeNet-5 step 6x slower). Each product is then computed
by one thread over the same blocks, whatever the number of threads, so results repeat exactly.

The function is found by name in the OpenBLAS library that numpy loaded (numpy >= 2 names it
``scipy_cblas_sgemm64_``, numpy 1.2x ``cblas_sgemm64_``: 64-bit integer arguments) and checked on a small
product before it is used. Kernels receive it as an argument, never as a global, so numba can cache them.
If it is not found (numpy built against Accelerate or MKL, say), or ``MINICNN_BLAS=0`` is set, `gemm_for`
returns None and the kernels use minicnn's own numba product (`minicnn.kernels.gemm.dot_rows`): the plain
route, slower but correct on any CPU.
"""
import ctypes
import glob
import os

import numpy as np

ROW_MAJOR, NO_TRANS, TRANS = 101, 111, 112  # the CBLAS enums for row-major storage and (no) transposing
_SYMBOLS = (("scipy_", "64_"), ("", "64_"))  # (prefix, suffix): numpy >= 2, numpy 1.2x; both with 64-bit ints


def _library_files():
    numpy_dir = os.path.dirname(np.__file__)
    folders = (os.path.join(numpy_dir, os.pardir, "numpy.libs"), os.path.join(numpy_dir, ".dylibs"),
               os.path.join(numpy_dir, ".libs"))
    for folder in folders:
        yield from sorted(glob.glob(os.path.join(folder, "*openblas*")))


def _bind(library, prefix, suffix):
    """The library's (sgemm, dgemm, get_num_threads, set_num_threads, get_corename) with C signatures, or None."""
    try:
        functions = [getattr(library, f"{prefix}{name}{suffix}") for name in
                     ("cblas_sgemm", "cblas_dgemm", "openblas_get_num_threads", "openblas_set_num_threads",
                      "openblas_get_corename")]
    except AttributeError:
        return None
    sgemm, dgemm, get_threads, set_threads, corename = functions
    corename.restype, corename.argtypes = ctypes.c_char_p, []
    index, address = ctypes.c_int64, ctypes.c_size_t  # addresses travel as integers: numba passes them as such
    for gemm, real in ((sgemm, ctypes.c_float), (dgemm, ctypes.c_double)):
        gemm.restype = None
        gemm.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_int, index, index, index, real, address, index,
                         address, index, real, address, index]
    get_threads.restype, get_threads.argtypes = ctypes.c_int, []
    set_threads.restype, set_threads.argtypes = None, [ctypes.c_int]
    return functions


def _works(sgemm, dgemm):
    """Does c = a @ b.T come out right, in both precisions, for a small product with leading dimensions?"""
    for gemm, dtype in ((sgemm, np.float32), (dgemm, np.float64)):
        a = np.arange(12, dtype=dtype).reshape(3, 4)
        b = np.arange(20, dtype=dtype).reshape(5, 4) - 7
        c = np.ones((3, 6), dtype=dtype)
        gemm(ROW_MAJOR, NO_TRANS, TRANS, 3, 5, 3, 1.0, a.ctypes.data, 4, b.ctypes.data, 4, 1.0, c.ctypes.data, 6)
        expected = np.ones((3, 6), dtype=dtype)
        expected[:, :5] += a[:, :3] @ b[:, :3].T
        if not np.array_equal(c, expected):
            return False
    return True


def _find():
    if os.environ.get("MINICNN_BLAS", "1").strip().lower() in ("0", "off", "no", "false"):
        return None, "switched off by MINICNN_BLAS"
    for path in _library_files():
        try:
            library = ctypes.CDLL(path)
        except OSError:
            continue
        for prefix, suffix in _SYMBOLS:
            functions = _bind(library, prefix, suffix)
            if functions is not None and _works(*functions[:2]):
                return functions, f"{os.path.basename(path)} ({prefix}cblas_sgemm{suffix})"
    return None, "no OpenBLAS with 64-bit integers found beside numpy"


_FUNCTIONS, SOURCE = _find()


def available():
    """Was numpy's OpenBLAS found (and not switched off)? Routes that only exist with BLAS ask this."""
    return _FUNCTIONS is not None


def gemm_for(dtype):
    """The BLAS ``cblas_?gemm`` for float32 or float64 arrays, or None for the plain route."""
    if _FUNCTIONS is None:
        return None
    return _FUNCTIONS[0] if np.dtype(dtype) == np.float32 else _FUNCTIONS[1]


def core_name():
    """The CPU type whose kernels OpenBLAS chose (e.g. 'Haswell', 'Zen', 'SkylakeX'), or 'none'."""
    return "none" if _FUNCTIONS is None else _FUNCTIONS[4]().decode()


class one_thread:
    """Within the block, OpenBLAS runs each product on the calling thread (minicnn's threads are the team).

    (A class rather than a generator: entering and leaving costs about 2 microseconds, paid on every call.)"""

    __slots__ = ("previous",)

    def __enter__(self):
        self.previous = 1 if _FUNCTIONS is None else _FUNCTIONS[2]()
        if self.previous != 1:
            _FUNCTIONS[3](1)

    def __exit__(self, *exc):
        if self.previous != 1:
            _FUNCTIONS[3](self.previous)
