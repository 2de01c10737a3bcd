"""Stateful modules with PyTorch's names: layers keep their parameters and what backward needs."""
from minicnn.nn.layers import (
    AdaptiveAvgPool2d,
    AvgPool2d,
    BatchNorm1d,
    BatchNorm2d,
    Conv1d,
    Conv2d,
    Dropout,
    Dropout2d,
    Flatten,
    LeakyReLU,
    Linear,
    LocalResponseNorm,
    LPPool2d,
    MaxPool2d,
    ReLU,
    ReLU6,
    Sigmoid,
    Tanh,
    ZeroPad2d,
)
from minicnn.nn.loss import CrossEntropyLoss, MSELoss
from minicnn.nn.module import Module, Parameter, Sequential

__all__ = ["Module", "Parameter", "Sequential", "Conv1d", "Conv2d", "Linear", "MaxPool2d", "AvgPool2d", "LPPool2d",
           "AdaptiveAvgPool2d", "BatchNorm1d", "BatchNorm2d", "Dropout", "Dropout2d", "ReLU", "LeakyReLU", "Sigmoid", "Tanh",
           "Flatten", "LocalResponseNorm", "CrossEntropyLoss", "MSELoss", "ReLU6", "ZeroPad2d"]
