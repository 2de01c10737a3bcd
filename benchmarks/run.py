"""minicnn against PyTorch CPU: convolution layers, pooling, batch norm, a LeNet-5 step, the MNIST-1D training loop.

    python benchmarks/run.py                 # everything
    python benchmarks/run.py conv mnist1d    # some sections
    python benchmarks/run.py --rounds 3      # fewer repetitions
    python benchmarks/run.py --isa avx2      # both libraries held to AVX2, in a subprocess
    python benchmarks/run.py coldstart       # first call of each op with an empty numba cache

Both libraries run with the same number of threads (NUMBA_NUM_THREADS for minicnn,
torch.set_num_threads for PyTorch; default: all cores). Runs are interleaved
(minicnn, PyTorch, minicnn, ...) and the minimum over rounds is reported, so a
background hiccup hits both equally and is filtered out. Ratio = minicnn time /
PyTorch time (below 1: minicnn is faster). Without PyTorch only minicnn's times print.
Kernels are compiled (or loaded from numba's cache) before timing starts.
"""
import argparse
import os
import platform
import subprocess
import sys
import tempfile
import time

import numpy as np

import minicnn.functional as F
from minicnn import nn, optim
from minicnn import random as mrandom

try:
    import torch
except ImportError:  # the benchmarks still time minicnn alone
    torch = None

CONV_LAYERS = {  # name: (N, C, H, W, K, F, stride, pad)
    "lenet_c1": (256, 1, 32, 32, 6, 5, 1, 0),
    "lenet_c3": (256, 6, 14, 14, 16, 5, 1, 0),
    "resnet_3x3_64": (64, 64, 32, 32, 64, 3, 1, 1),
    "alexnet_conv1": (8, 3, 227, 227, 96, 11, 4, 0),
    "vgg_3x3_128": (8, 128, 56, 56, 128, 3, 1, 1),
}


PAUSE = 0.05  # seconds of rest before each library's turn


def best_of(rounds, *fns):
    """The minimum time of each function over `rounds` turns, in seconds; turns interleave the functions.

    A turn is a short rest, one untimed call, then three timed calls back to back:
    the steady state of a training loop. After a parallel region, both libraries'
    worker threads spin for a while before they sleep; the rest keeps the threads
    of the library that ran last from stealing cores from the next, and the
    untimed call wakes the library's own threads.
    """
    times = [[] for _ in fns]
    for _ in range(rounds):
        for fn, record in zip(fns, times):
            time.sleep(PAUSE)
            fn()
            for _ in range(3):
                start = time.perf_counter()
                fn()
                record.append(time.perf_counter() - start)
    return [min(t) for t in times]


def report(name, ours, theirs=None, flops=None):
    text = f"{name:<28s} minicnn {ours * 1e3:9.2f} ms"
    if flops:
        text += f" {flops / ours / 1e9:7.1f} GFLOP/s"
    if theirs is not None:
        text += f" | torch {theirs * 1e3:9.2f} ms"
        if flops:
            text += f" {flops / theirs / 1e9:7.1f} GFLOP/s"
        text += f" | ratio {ours / theirs:5.2f}"
    print(text, flush=True)
    return None if theirs is None else ours / theirs


def bench_conv_layer(rounds, name, x, weight, bias=None, stride=1, padding=0, groups=1):
    """Time one convolution's forward and backward in minicnn and (when installed) PyTorch; returns the
    forward+backward ratio, or None without PyTorch."""
    rng = np.random.default_rng(0)
    y = F.conv2d(x, weight, bias, stride=stride, padding=padding, groups=groups)
    grad = rng.standard_normal(y.shape).astype(np.float32)
    flops = 2.0 * y.size * weight[0].size            # one multiply-add per weight of a filter, per output value
    fwd = lambda: F.conv2d(x, weight, bias, stride=stride, padding=padding, groups=groups)  # noqa: E731
    bwd = lambda: F.conv2d_backward(grad, x, weight, stride=stride, padding=padding, groups=groups)  # noqa: E731
    if torch is None:
        report(f"{name} forward", *best_of(rounds, fwd), flops=flops)
        report(f"{name} backward", *best_of(rounds, bwd), flops=2 * flops)
        return None
    leaves = [torch.tensor(a, requires_grad=True) for a in (x, weight) + (() if bias is None else (bias,))]
    tb = leaves[2] if bias is not None else None
    tgrad = torch.tensor(grad)
    t_fwd = lambda: torch.nn.functional.conv2d(leaves[0], leaves[1], tb, stride=stride, padding=padding,  # noqa: E731
                                               groups=groups)
    ty = t_fwd()
    t_bwd = lambda: torch.autograd.grad(ty, leaves, tgrad, retain_graph=True)  # noqa: E731
    ours_f, theirs_f, ours_b, theirs_b = best_of(rounds, fwd, t_fwd, bwd, t_bwd)
    report(f"{name} forward", ours_f, theirs_f, flops)
    report(f"{name} backward", ours_b, theirs_b, 2 * flops)
    return report(f"{name} forward+backward", ours_f + ours_b, theirs_f + theirs_b, 3 * flops)


def print_geometric_mean(ratios):
    ratios = [r for r in ratios if r is not None]
    if ratios:
        print(f"geometric mean of forward+backward ratios: {np.exp(np.mean(np.log(ratios))):.2f}"
              f" (largest {max(ratios):.2f})")


def bench_conv(rounds):
    print("\n# conv2d, float32: forward, backward (grad input + grad weight + grad bias)")
    ratios = []
    for name, (n, c, h, w, k, f, s, p) in CONV_LAYERS.items():
        rng = np.random.default_rng(0)
        x = rng.standard_normal((n, c, h, w)).astype(np.float32)
        weight = rng.standard_normal((k, c, f, f)).astype(np.float32)
        bias = rng.standard_normal(k).astype(np.float32)
        ratios.append(bench_conv_layer(rounds, name, x, weight, bias, stride=s, padding=p))
    print_geometric_mean(ratios)


DEPTHWISE_LAYERS = {  # EfficientNet-Lite0's depthwise convolutions at batch 8: name: (N, C, H, W, F, stride)
    "effnet_dw_96_k3_s2": (8, 96, 112, 112, 3, 2),
    "effnet_dw_144_k5_s2": (8, 144, 56, 56, 5, 2),
    "effnet_dw_480_k5_s1": (8, 480, 14, 14, 5, 1),
    "effnet_dw_1152_k3_s1": (8, 1152, 7, 7, 3, 1),
}


def bench_depthwise(rounds):
    print("\n# depthwise conv2d (groups = channels, no bias), float32: forward, backward")
    ratios = []
    for name, (n, c, h, w, f, s) in DEPTHWISE_LAYERS.items():
        rng = np.random.default_rng(0)
        x = rng.standard_normal((n, c, h, w)).astype(np.float32)
        weight = rng.standard_normal((c, 1, f, f)).astype(np.float32)
        ratios.append(bench_conv_layer(rounds, name, x, weight, stride=s, padding=(f - 1) // 2, groups=c))
    print_geometric_mean(ratios)


def bench_pool_bn(rounds):
    print("\n# pooling and batch norm, float32, x of shape (64, 64, 56, 56)")
    rng = np.random.default_rng(0)
    x = rng.standard_normal((64, 64, 56, 56)).astype(np.float32)
    grad = rng.standard_normal((64, 64, 28, 28)).astype(np.float32)
    indices = F.max_pool2d(x, 2, return_indices=True)[1]
    cases = [
        # with indices, as nn.MaxPool2d runs it (PyTorch records them too when x requires grad)
        ("max_pool2d 2x2 forward", lambda: F.max_pool2d(x, 2, return_indices=True), "max_pool2d"),
        # with the forward's indices, as nn.MaxPool2d and PyTorch's autograd both do
        ("max_pool2d 2x2 backward", lambda: F.max_pool2d_backward(grad, x, 2, indices=indices), None),
        ("avg_pool2d 2x2 forward", lambda: F.avg_pool2d(x, 2), "avg_pool2d"),
        ("avg_pool2d 2x2 backward", lambda: F.avg_pool2d_backward(grad, x, 2), None),
    ]
    for name, ours, torch_name in cases:
        if torch is None:
            report(name, *best_of(rounds, ours))
            continue
        tx = torch.tensor(x, requires_grad=True)
        if torch_name:
            fn = getattr(torch.nn.functional, torch_name)
            theirs = lambda: fn(tx, 2)  # noqa: E731
        else:
            ty = getattr(torch.nn.functional, name.split()[0])(tx, 2)
            theirs = lambda: torch.autograd.grad(ty, tx, torch.tensor(grad), retain_graph=True)  # noqa: E731
        report(name, *best_of(rounds, ours, theirs))

    bn, g = nn.BatchNorm2d(64), rng.standard_normal(x.shape).astype(np.float32)
    ours_f = lambda: bn(x)  # noqa: E731
    ours_b = lambda: (bn(x), bn.backward(g))  # noqa: E731
    if torch is None:
        report("batch_norm forward (train)", *best_of(rounds, ours_f))
        report("batch_norm forward+backward", *best_of(rounds, ours_b))
        return
    tbn, tx, tg = torch.nn.BatchNorm2d(64), torch.tensor(x, requires_grad=True), torch.tensor(g)
    theirs_f = lambda: tbn(tx)  # noqa: E731
    theirs_b = lambda: tbn(tx).backward(tg)  # noqa: E731
    ours_f_t, theirs_f_t, ours_b_t, theirs_b_t = best_of(rounds, ours_f, theirs_f, ours_b, theirs_b)
    report("batch_norm forward (train)", ours_f_t, theirs_f_t)
    report("batch_norm forward+backward", ours_b_t, theirs_b_t)


def lenet(module):
    return module.Sequential(module.Conv2d(1, 6, 5), module.ReLU(), module.MaxPool2d(2), module.Conv2d(6, 16, 5),
                             module.ReLU(), module.MaxPool2d(2), module.Conv2d(16, 120, 5), module.ReLU(),
                             module.Flatten(), module.Linear(120, 84), module.ReLU(), module.Linear(84, 10))


def bench_lenet(rounds):
    print("\n# LeNet-5 training step (batch 256, 32x32, SGD momentum 0.9): forward, loss, backward, update")
    rng = np.random.default_rng(0)
    x = rng.standard_normal((256, 1, 32, 32)).astype(np.float32)
    y = rng.integers(0, 10, 256)
    mrandom.manual_seed(0)
    model, loss_fn = lenet(nn), nn.CrossEntropyLoss()
    opt = optim.SGD(model.parameters(), lr=0.01, momentum=0.9)

    def ours():
        loss_fn(model(x), y)
        opt.zero_grad()
        model.backward(loss_fn.backward(), input_grad=False)  # PyTorch skips it too: x does not require grad
        opt.step()

    fns = [ours]
    if torch is not None:
        tmodel, tloss = lenet(torch.nn), torch.nn.CrossEntropyLoss()
        topt = torch.optim.SGD(tmodel.parameters(), lr=0.01, momentum=0.9)
        tx, ty = torch.tensor(x), torch.tensor(y)

        def theirs():
            loss = tloss(tmodel(tx), ty)
            topt.zero_grad()
            loss.backward()
            topt.step()

        fns.append(theirs)
    times = best_of(rounds, *fns)
    report("LeNet-5 step", *times)
    epoch = [t * 60000 / 256 for t in times]
    print(f"  projected 60,000-image epoch: minicnn {epoch[0]:.1f} s"
          + (f", torch {epoch[1]:.1f} s" if len(epoch) > 1 else ""))


def mnist1d_model(module):
    return module.Sequential(module.Conv1d(1, 25, 5, stride=2, padding=1), module.ReLU(),
                             module.Conv1d(25, 25, 3, 2, 1), module.ReLU(), module.Conv1d(25, 25, 3, 2, 1),
                             module.ReLU(), module.Flatten(), module.Linear(125, 10))


def bench_mnist1d(rounds, steps=3000):
    print(f"\n# MNIST-1D CNN training loop: Adam lr 1e-2, batch 100, {steps} steps (the network chapter's setup)")
    from minicnn.data import batches, load_mnist1d

    data = load_mnist1d()
    x, y = data["x"][:, None, :], data["y"]

    def ours():
        mrandom.manual_seed(0)
        model = mnist1d_model(nn)
        loss_fn, opt = nn.CrossEntropyLoss(), optim.Adam(model.parameters(), lr=1e-2)
        rng, step = np.random.default_rng(0), 0
        while step < steps:
            for xb, yb in batches(x, y, 100, rng=rng):
                loss_fn(model(xb), yb)
                opt.zero_grad()
                model.backward(loss_fn.backward(), input_grad=False)  # PyTorch skips it too: x does not require grad
                opt.step()
                step += 1
                if step == steps:
                    break

    fns = [ours]
    if torch is not None:
        tx, ty = torch.tensor(x), torch.tensor(y)

        def theirs():
            torch.manual_seed(0)
            model = mnist1d_model(torch.nn)
            loss_fn, opt = torch.nn.CrossEntropyLoss(), torch.optim.Adam(model.parameters(), lr=1e-2)
            rng, step = np.random.default_rng(0), 0
            while step < steps:
                for index in np.array_split(rng.permutation(len(x)), len(x) // 100):
                    loss = loss_fn(model(tx[index]), ty[index])
                    opt.zero_grad()
                    loss.backward()
                    opt.step()
                    step += 1
                    if step == steps:
                        break

        fns.append(theirs)
    report("MNIST-1D training loop", *best_of(rounds, *fns))

def bench_profile(rounds, steps=300):
    """Where a small network's training step spends its time: cProfile over MNIST-1D steps (batch 100)."""
    import cProfile
    import pstats

    from minicnn.data import load_mnist1d

    print(f"\n# profile of {steps} MNIST-1D training steps (batch 100, Adam): where a step's time goes")
    data = load_mnist1d()
    x, y = data["x"][:100, None, :], data["y"][:100]
    mrandom.manual_seed(0)
    model, loss_fn = mnist1d_model(nn), nn.CrossEntropyLoss()
    opt = optim.Adam(model.parameters(), lr=1e-2)

    def step():
        loss_fn(model(x), y)
        opt.zero_grad()
        model.backward(loss_fn.backward(), input_grad=False)
        opt.step()

    for _ in range(20):
        step()
    start = time.perf_counter()
    for _ in range(steps):
        step()
    plain = (time.perf_counter() - start) / steps
    profiler = cProfile.Profile()
    profiler.enable()
    for _ in range(steps):
        step()
    profiler.disable()
    stats = pstats.Stats(profiler).stats
    print(f"one step: {plain * 1e6:.0f} us without the profiler; the functions taking most of it (own time, "
          f"the profiler's overhead included):")
    rows = sorted(stats.items(), key=lambda item: -item[1][2])[:14]
    for (path, line, name), (_, calls, own, total, _) in rows:
        where = os.path.basename(path) if path != "~" else "builtin"
        print(f"  {own / steps * 1e6:7.1f} us own, {total / steps * 1e6:7.1f} us with callees, "
              f"{calls / steps:5.1f} calls per step  {where}:{name}")


# ----------------------------------------------------------------------------------------------- cold start
FIRST_CALLS = {  # op: code run after `x` (float NCHW batch), `w`, `np` and `F` exist; timed in a fresh process
    "conv2d": "y = F.conv2d(x, w, padding=1)",  # stride 1, 16 channels: shifted products
    "conv2d_backward": "y = F.conv2d(x, w, padding=1); t0 = time.perf_counter(); F.conv2d_backward(y, x, w, padding=1)",
    "conv2d, stride 2": "y = F.conv2d(x, w, stride=2)",  # windows copied
    "conv2d_backward, stride 2": "y = F.conv2d(x, w, stride=2); t0 = time.perf_counter(); "
                                 "F.conv2d_backward(y, x, w, stride=2)",  # folding
    "max_pool2d": "F.max_pool2d(x, 2, return_indices=True)",
    "max_pool2d_backward": "y, i = F.max_pool2d(x, 2, return_indices=True); t0 = time.perf_counter(); "
                           "F.max_pool2d_backward(y, x, 2, indices=i)",
    "avg_pool2d + backward": "F.avg_pool2d_backward(F.avg_pool2d(x, 2), x, 2)",
    "batch_norm (training)": "F.batch_norm(x, np.zeros(16, x.dtype), np.ones(16, x.dtype), training=True)",
    "batch_norm_backward": "m, v = np.zeros(16, x.dtype), np.ones(16, x.dtype); y = F.batch_norm(x, m, v, training=True); "
                           "t0 = time.perf_counter(); F.batch_norm_backward(y, x, None, m, v, training=True)",
    "linear + backward": "a = x.reshape(8, -1); F.linear_backward(F.linear(a, a[:10]), a, a[:10])",
    "relu + backward": "F.relu_backward(F.relu(x), x)",
}
_FIRST_CALL_SCRIPT = """
import time
t_import = time.perf_counter()
import numpy as np
import minicnn.functional as F
t_import = time.perf_counter() - t_import
rng = np.random.default_rng(0)
x = rng.standard_normal((8, 16, 12, 12)).astype("{dtype}")
w = rng.standard_normal((16, 16, 3, 3)).astype("{dtype}")
t0 = time.perf_counter()
{code}
print(t_import, time.perf_counter() - t0)
"""


def _first_call(op, dtype, cache_dir):
    code = _FIRST_CALL_SCRIPT.format(dtype=dtype, code=FIRST_CALLS[op])
    env = dict(os.environ, NUMBA_CACHE_DIR=cache_dir)
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True).stdout
    return [float(v) for v in out.split()]


def bench_coldstart(rounds):
    """The first call of each public op in a fresh process: with an empty numba cache (what a learner's first
    run waits for: compilation) and with the cache filled (every later session: import and loading)."""
    print("\n# first call of each op in a fresh process, seconds (the op's own compilation; import not included)")
    print(f"{'op':<24s} {'float32 cold':>12s} {'float64 cold':>12s} {'float32 warm':>12s}")
    total_cold, total_warm, imports = 0.0, 0.0, []
    with tempfile.TemporaryDirectory() as warm_cache:
        for op in FIRST_CALLS:
            cold = []
            for dtype in ("float32", "float64"):
                with tempfile.TemporaryDirectory() as empty_cache:
                    cold.append(_first_call(op, dtype, empty_cache)[1])
                _first_call(op, dtype, warm_cache)  # fills the shared cache
            imported, warm = _first_call(op, "float32", warm_cache)
            imports.append(imported)
            total_cold, total_warm = total_cold + sum(cold), total_warm + warm
            print(f"{op:<24s} {cold[0]:12.2f} {cold[1]:12.2f} {warm:12.3f}", flush=True)
    print(f"sum of the cold first calls above (both dtypes; helpers shared by several ops compiled again for "
          f"each): {total_cold:.1f} s. Warm, each op in its own process: import {min(imports):.2f} s, first "
          f"calls {total_warm:.2f} s in all (each process pays numba's own start-up, about 0.5 s)")
    script = os.path.join(os.path.dirname(__file__), os.pardir, "tools", "compile_kernels.py")
    with tempfile.TemporaryDirectory() as empty_cache:
        env = dict(os.environ, NUMBA_CACHE_DIR=empty_cache)
        for state in ("cold (empty cache)", "warm (cache filled)"):
            out = subprocess.run([sys.executable, script], env=env, check=True, capture_output=True, text=True)
            print(f"every kernel, both dtypes, one process, {state}: {out.stdout.splitlines()[-1]}")



def cpu_description():
    """The CPU's model name and widest vector extension, from /proc/cpuinfo where there is one."""
    try:
        with open("/proc/cpuinfo") as f:
            info = f.read()
    except OSError:
        return platform.processor() or "unknown CPU"
    model = next((line.split(":", 1)[1].strip() for line in info.splitlines() if line.startswith("model name")), "?")
    vector = "AVX-512" if " avx512f" in info else "AVX2" if " avx2" in info else "no AVX2"
    return f"{model}, {vector}"


SECTIONS = {"conv": bench_conv, "depthwise": bench_depthwise, "pool": bench_pool_bn, "lenet": bench_lenet,
            "mnist1d": bench_mnist1d, "profile": bench_profile, "coldstart": bench_coldstart}
ISA_SETTINGS = {  # --isa: environment for numba's code generation, PyTorch's kernels and oneDNN's JIT
    "avx2": dict(NUMBA_CPU_NAME="haswell", ATEN_CPU_CAPABILITY="avx2", ONEDNN_MAX_CPU_ISA="AVX2",
                 OPENBLAS_CORETYPE="Haswell"),
    "generic": dict(NUMBA_CPU_NAME="generic", ATEN_CPU_CAPABILITY="default", ONEDNN_MAX_CPU_ISA="SSE41",
                    OPENBLAS_CORETYPE="Prescott"),
}


def instruction_sets():
    """What each side generates code for: numba's target CPU and whether it may use AVX-512, PyTorch's kernels."""
    import llvmlite.binding as llvm
    from numba.core import config

    cpu = config.CPU_NAME or llvm.get_host_cpu_name()
    features = config.CPU_FEATURES if config.CPU_FEATURES is not None else llvm.get_host_cpu_features().flatten()
    vector = "AVX-512" if "+avx512f" in features else "AVX2" if "+avx2" in features else "no AVX2"
    text = f"numba: {cpu} ({vector})"
    if torch is not None:
        text += f"; torch: {torch.backends.cpu.get_cpu_capability()}, oneDNN max ISA: " \
                f"{os.environ.get('ONEDNN_MAX_CPU_ISA', 'native')}"
    try:
        from minicnn.kernels import blas
        text += f"; minicnn's BLAS: {blas.SOURCE}, kernels for {blas.core_name()}"
    except ImportError:
        pass
    return text


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("sections", nargs="*", help=f"any of {', '.join(SECTIONS)} (default: all)")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--isa", choices=["native"] + list(ISA_SETTINGS), default="native",
                        help="hold both libraries to an instruction set (runs the suite again in a subprocess)")
    args = parser.parse_args()
    if args.isa != "native":
        env = dict(os.environ, **ISA_SETTINGS[args.isa])
        if args.isa == "avx2":  # NUMBA_CPU_NAME alone keeps the host's features (AVX-512 included): drop those
            import llvmlite.binding as llvm

            features = llvm.get_host_cpu_features()
            for name in list(features):
                if name.startswith("avx512") or name.startswith("amx") or name in ("avx10.1-512", "evex512"):
                    features[name] = False
            env["NUMBA_CPU_FEATURES"] = features.flatten()
        env["NUMBA_CACHE_DIR"] = os.path.join(tempfile.gettempdir(), f"minicnn-numba-cache-{args.isa}")
        command = [sys.executable, __file__, *args.sections, "--rounds", str(args.rounds)]
        print(f"running with {ISA_SETTINGS[args.isa]} and NUMBA_CACHE_DIR={env['NUMBA_CACHE_DIR']}", flush=True)
        sys.exit(subprocess.run(command, env=env).returncode)
    unknown = set(args.sections) - set(SECTIONS)
    if unknown:
        parser.error(f"unknown sections {sorted(unknown)}; choose from {list(SECTIONS)}")
    import numba

    threads = numba.get_num_threads()
    if torch is not None:
        torch.set_num_threads(threads)
    print(f"machine: {platform.machine()}, {os.cpu_count()} CPUs ({cpu_description()}); "
          f"Python {platform.python_version()}, numpy {np.__version__}, numba {numba.__version__}, "
          f"torch {torch.__version__ if torch else 'not installed'}; threads: {threads}")
    print(f"instruction sets: {instruction_sets()}")
    for name in args.sections or SECTIONS:
        if name == "coldstart" and not args.sections:
            continue  # minutes of compiling: only when asked for by name
        rounds = max(1, args.rounds // 3) if name == "mnist1d" else args.rounds
        SECTIONS[name](rounds)


if __name__ == "__main__":
    main()
