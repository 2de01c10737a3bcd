"""numba kernels for 2-D cross-correlation (conv1d runs through them with H = 1).

Not public API: `minicnn.functional.conv` validates, pads and makes arrays
contiguous before it calls these, and crops afterwards.

Every kernel gives each output element to exactly one `prange` iteration and
sums its terms in a fixed order, so results do not depend on the number of
threads. Weight and bias gradients accumulate in float64 and are rounded once.
"""
import numpy as np
from numba import njit, prange


@njit(parallel=True, cache=True)
def conv2d_forward(xp, weight, bias, out, stride_h, stride_w, dil_h, dil_w, groups):
    """out[n, k] = bias[k] + sum_{c,i,j} weight[k, c, i, j] * xp[n, g*Cg + c, oh*sh + i*dh, ow*sw + j*dw]."""
    n_batch = xp.shape[0]
    n_out, c_per_group, k_h, k_w = weight.shape
    out_h, out_w = out.shape[2], out.shape[3]
    k_per_group = n_out // groups
    for job in prange(n_batch * n_out):
        n = job // n_out
        k = job % n_out
        first_c = (k // k_per_group) * c_per_group
        acc = out[n, k]
        acc[:, :] = bias[k]
        for c in range(c_per_group):
            plane = xp[n, first_c + c]
            for i in range(k_h):
                for j in range(k_w):
                    w = weight[k, c, i, j]
                    for oh in range(out_h):
                        row = plane[oh * stride_h + i * dil_h]
                        col0 = j * dil_w
                        for ow in range(out_w):
                            acc[oh, ow] += w * row[col0 + ow * stride_w]


@njit(parallel=True, cache=True)
def conv2d_backward_input(grad_out, weight, grad_xp, stride_h, stride_w, dil_h, dil_w, groups):
    """grad_xp[n, c_in] = sum over taps and output positions of weight * grad_out (a scatter).

    This is the "wide convolution of delta with the flipped kernel", written as
    a scatter so that strides and dilations need no special case.
    """
    n_batch = grad_out.shape[0]
    n_out, c_per_group, k_h, k_w = weight.shape
    out_h, out_w = grad_out.shape[2], grad_out.shape[3]
    n_in = grad_xp.shape[1]
    k_per_group = n_out // groups
    for job in prange(n_batch * n_in):
        n = job // n_in
        c_in = job % n_in
        g = c_in // c_per_group
        c = c_in % c_per_group
        dst = grad_xp[n, c_in]
        dst[:, :] = 0.0
        for k in range(g * k_per_group, (g + 1) * k_per_group):
            delta = grad_out[n, k]
            for i in range(k_h):
                for j in range(k_w):
                    w = weight[k, c, i, j]
                    col0 = j * dil_w
                    for oh in range(out_h):
                        row = dst[oh * stride_h + i * dil_h]
                        for ow in range(out_w):
                            row[col0 + ow * stride_w] += w * delta[oh, ow]


@njit(parallel=True, cache=True)
def conv2d_backward_weight(grad_out, xp, grad_weight, stride_h, stride_w, dil_h, dil_w, groups):
    """grad_weight[k, c, i, j] = sum_{n,oh,ow} grad_out[n, k, oh, ow] * xp[n, g*Cg + c, oh*sh + i*dh, ow*sw + j*dw]."""
    n_batch = grad_out.shape[0]
    n_out, c_per_group, k_h, k_w = grad_weight.shape
    out_h, out_w = grad_out.shape[2], grad_out.shape[3]
    k_per_group = n_out // groups
    for job in prange(n_out * c_per_group):
        k = job // c_per_group
        c = job % c_per_group
        c_in = (k // k_per_group) * c_per_group + c
        for i in range(k_h):
            for j in range(k_w):
                acc = 0.0
                col0 = j * dil_w
                for n in range(n_batch):
                    plane = xp[n, c_in]
                    delta = grad_out[n, k]
                    for oh in range(out_h):
                        row = plane[oh * stride_h + i * dil_h]
                        for ow in range(out_w):
                            acc += delta[oh, ow] * row[col0 + ow * stride_w]
                grad_weight[k, c, i, j] = acc
