"""The math of every op as functions on numpy arrays, forward and backward side by side (like torch.nn.functional).

Conventions, kept by every op:

- ``op_backward(grad_out, <the forward's inputs and settings>)`` takes the upstream gradient
  dL/d(output) first and returns dL/d(input) (and, for ops with parameters, a tuple with the
  parameter gradients), with the same defaults as the forward op.
- A loss ends the chain, so it has no upstream gradient: ``cross_entropy_backward(scores, target)``
  and ``mse_loss_backward(input, target)`` take the loss's own inputs and return dL/d(scores).
- Inputs are float32 or float64 arrays of one dtype; mixed dtypes are refused, never promoted.
- Bad input raises an error that names the op, the argument, the rule and the shapes.

The readable loop version of each op, used to test these, is in `minicnn.reference`.
"""
from minicnn.functional.activation import (
    leaky_relu,
    leaky_relu_backward,
    relu,
    relu6,
    relu6_backward,
    relu_backward,
    sigmoid,
    sigmoid_backward,
    tanh,
    tanh_backward,
)
from minicnn.functional.combine import add, add_backward, cat, cat_backward
from minicnn.functional.conv import (
    conv1d,
    conv1d_backward,
    conv2d,
    conv2d_backward,
    conv_output_size,
    convolve,
    correlate,
)
from minicnn.functional.dropout import dropout, dropout2d, dropout2d_backward, dropout_backward
from minicnn.functional.linear import linear, linear_backward
from minicnn.functional.loss import (
    cross_entropy,
    cross_entropy_backward,
    log_softmax,
    mse_loss,
    mse_loss_backward,
    softmax,
)
from minicnn.functional.normalization import (
    batch_norm,
    batch_norm_backward,
    local_response_norm,
    local_response_norm_backward,
)
from minicnn.functional.padding import pad, pad_backward
from minicnn.functional.pooling import (
    adaptive_avg_pool2d,
    adaptive_avg_pool2d_backward,
    avg_pool2d,
    avg_pool2d_backward,
    global_avg_pool2d,
    global_avg_pool2d_backward,
    lp_pool2d,
    lp_pool2d_backward,
    max_pool2d,
    max_pool2d_backward,
    pool_output_size,
)

__all__ = [
    'adaptive_avg_pool2d', 'adaptive_avg_pool2d_backward', 'add', 'add_backward', 'avg_pool2d',
    'avg_pool2d_backward', 'batch_norm', 'batch_norm_backward', 'cat', 'cat_backward', 'conv1d', 'conv1d_backward',
    'conv2d', 'conv2d_backward', 'conv_output_size', 'convolve', 'correlate', 'cross_entropy',
    'cross_entropy_backward', 'dropout', 'dropout_backward', 'dropout2d', 'dropout2d_backward', 'global_avg_pool2d',
    'global_avg_pool2d_backward',
    'leaky_relu', 'leaky_relu_backward', 'linear', 'linear_backward', 'local_response_norm',
    'local_response_norm_backward', 'log_softmax', 'lp_pool2d', 'lp_pool2d_backward', 'max_pool2d',
    'max_pool2d_backward', 'mse_loss', 'mse_loss_backward', 'pool_output_size', 'relu', 'relu_backward', 'sigmoid',
    'sigmoid_backward', 'softmax', 'tanh', 'tanh_backward', 'relu6', 'relu6_backward', 'pad', 'pad_backward',
]
