"""The course's small CNN (chapters 9-12), the classic architectures (chapters 13-17), the EfficientNet-Lite0 of
chapter 18, and pretrained weights.

Constructors, arguments and state-dict keys follow torchvision where the architecture is the same, so a
torchvision state dict loads with `load_state_dict` unchanged; parameter counts equal the published ones.
Pretrained weights come from registry packages, checksummed and read without PyTorch (`pretrained`).
"""
from minicnn.models.alexnet import AlexNet, ZFNet, alexnet, zfnet
from minicnn.models.efficientnet import EfficientNet, MBConvBlock, efficientnet_lite0, preprocess_efficientnet
from minicnn.models.googlenet import GoogLeNet, Inception, googlenet
from minicnn.models.lenet import LeNet5, lenet5
from minicnn.models.pretrained import (AdvertorchLeNet5, hed_preprocess, hed_vgg16_features, lenet5_advertorch,
                                       pretrained_state_dict)
from minicnn.models.resnet import ResNet, resnet18, resnet34, resnet50, resnet_cifar
from minicnn.models.small_cnn import small_cnn
from minicnn.models.vgg import VGG, vgg11, vgg13, vgg16, vgg19

__all__ = ["LeNet5", "lenet5", "AlexNet", "alexnet", "ZFNet", "zfnet", "VGG", "vgg11", "vgg13", "vgg16", "vgg19",
           "ResNet", "resnet18", "resnet34", "resnet50", "resnet_cifar", "GoogLeNet", "Inception", "googlenet",
           "EfficientNet", "MBConvBlock", "efficientnet_lite0", "preprocess_efficientnet",
           "pretrained_state_dict", "hed_vgg16_features", "hed_preprocess", "AdvertorchLeNet5", "lenet5_advertorch", "small_cnn"]
