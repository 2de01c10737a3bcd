"""numba kernels for 2-D cross-correlation (conv1d runs through them with H = 1).

Not public API: `minicnn.functional.conv` validates, pads, lays the arrays out as
below and makes them contiguous, then transposes the results back to NCHW.

The innermost loop of every kernel runs over a *channel* axis that is contiguous
in memory (output channels for the forward pass and the weight gradient, input
channels for the input gradient), so it vectorizes whatever the stride or
dilation. Every output element is owned by one `prange` iteration and summed in
a fixed order, so results do not depend on the number of threads. Weight
gradients sum each sample in the input dtype and accumulate samples in float64.

Layouts (g = group, Cg = C/groups input channels and Kg = K/groups filters per group):
    xp        (N, C, Hp, Wp)          padded input
    w_cikk    (groups, Cg, kH, kW, Kg)  weight for the forward pass and dW
    w_kijc    (K, kH, kW, Cg)           weight for dX
    out_nhwk  (N, OH, OW, K)            output (channels last)
    grad_nhwk (N, OH, OW, K)            upstream gradient (channels last)
    grad_xp_nhwc (N, Hp, Wp, C)         gradient of the padded input (channels last)
"""
import numpy as np
from numba import njit, prange


@njit(parallel=True, cache=True)
def conv2d_forward(xp, w_cikk, bias, out_nhwk, stride_h, stride_w, dil_h, dil_w):
    """out[n, oh, ow, g*Kg + k] = bias + sum_{c,i,j} xp[n, g*Cg + c, oh*sh + i*dh, ow*sw + j*dw] * w[g, c, i, j, k]."""
    n_batch, out_h, out_w, n_out = out_nhwk.shape
    groups, c_per_group, k_h, k_w, k_per_group = w_cikk.shape
    # Full indexing, no array views inside the loops: a view costs an atomic reference count.
    for job in prange(n_batch * out_h):
        n = job // out_h
        oh = job % out_h
        for ow in range(out_w):
            for k in range(n_out):
                out_nhwk[n, oh, ow, k] = bias[k]
            for g in range(groups):
                k0 = g * k_per_group
                for c in range(c_per_group):
                    for i in range(k_h):
                        r = oh * stride_h + i * dil_h
                        for j in range(k_w):
                            v = xp[n, g * c_per_group + c, r, ow * stride_w + j * dil_w]
                            for k in range(k_per_group):
                                out_nhwk[n, oh, ow, k0 + k] += v * w_cikk[g, c, i, j, k]


@njit(parallel=True, cache=True)
def conv2d_backward_input(grad_nhwk, w_kijc, grad_xp_nhwc, stride_h, stride_w, dil_h, dil_w, groups):
    """grad_xp[n, oh*sh + i*dh, ow*sw + j*dw, g*Cg + c] += grad[n, oh, ow, k] * w[k, i, j, c] (a scatter).

    This is the "wide convolution of delta with the flipped kernel", written as a
    scatter so that strides and dilations need no special case. One sample per job.
    """
    n_batch, out_h, out_w, n_out = grad_nhwk.shape
    _, k_h, k_w, c_per_group = w_kijc.shape
    _, h_p, w_p, n_in = grad_xp_nhwc.shape
    k_per_group = n_out // groups
    for n in prange(n_batch):
        for r in range(h_p):
            for q in range(w_p):
                for c in range(n_in):
                    grad_xp_nhwc[n, r, q, c] = 0.0
        for oh in range(out_h):
            for ow in range(out_w):
                for k in range(n_out):
                    d = grad_nhwk[n, oh, ow, k]
                    c0 = (k // k_per_group) * c_per_group
                    for i in range(k_h):
                        r = oh * stride_h + i * dil_h
                        for j in range(k_w):
                            q = ow * stride_w + j * dil_w
                            for c in range(c_per_group):
                                grad_xp_nhwc[n, r, q, c0 + c] += d * w_kijc[k, i, j, c]


@njit(parallel=True, cache=True)
def conv2d_backward_weight(grad_nhwk, xp, grad_w_cikk, stride_h, stride_w, dil_h, dil_w):
    """grad_w[g, c, i, j, k] = sum_{n,oh,ow} xp[n, g*Cg + c, oh*sh + i*dh, ow*sw + j*dw] * grad[n, oh, ow, g*Kg + k]."""
    n_batch, out_h, out_w, _ = grad_nhwk.shape
    groups, c_per_group, k_h, k_w, k_per_group = grad_w_cikk.shape
    for job in prange(groups * c_per_group * k_h * k_w):
        j = job % k_w
        i = (job // k_w) % k_h
        c = (job // (k_w * k_h)) % c_per_group
        g = job // (k_w * k_h * c_per_group)
        k0 = g * k_per_group
        c_in = g * c_per_group + c
        total = np.zeros(k_per_group, dtype=np.float64)
        per_sample = np.empty(k_per_group, dtype=grad_w_cikk.dtype)
        for n in range(n_batch):
            per_sample[:] = 0.0
            for oh in range(out_h):
                r = oh * stride_h + i * dil_h
                for ow in range(out_w):
                    v = xp[n, c_in, r, ow * stride_w + j * dil_w]
                    for k in range(k_per_group):
                        per_sample[k] += v * grad_nhwk[n, oh, ow, k0 + k]
            for k in range(k_per_group):
                total[k] += per_sample[k]
        for k in range(k_per_group):
            grad_w_cikk[g, c, i, j, k] = total[k]
