"""Neural-network layers, losses and segmentation models over fastseg's kernels (torch.nn)."""

from . import functional, init
from .layers import (AvgPool2d, BatchNorm1d, BatchNorm2d, Conv1d, Conv2d, ConvTranspose2d,
                     Dropout, Dropout2d, Flatten, Identity, LeakyReLU, Linear, LogSoftmax,
                     MaxPool2d, MaxUnpool2d, ReLU, Sigmoid, Softmax, Tanh, Upsample)
from .losses import (BCEWithLogitsLoss, ContentLoss, CrossEntropyLoss, DiceLoss, KLDivLoss,
                     MSELoss, NLLLoss, StyleLoss)
from .models import FCN, DoubleConv, SegNet, UNet, UpBlock
from .module import Module, ModuleDict, ModuleList, Parameter, Sequential
from .uncertainty import Uncertainty, predict_with_uncertainty

__all__ = ["functional", "init", "Module", "Parameter", "Sequential", "ModuleList", "ModuleDict",
           "Conv1d", "Conv2d", "ConvTranspose2d", "MaxPool2d", "MaxUnpool2d", "AvgPool2d",
           "Upsample", "BatchNorm1d", "BatchNorm2d", "Dropout", "Dropout2d", "ReLU", "LeakyReLU",
           "Sigmoid", "Tanh", "Softmax", "LogSoftmax", "Identity", "Flatten", "Linear",
           "CrossEntropyLoss", "NLLLoss", "BCEWithLogitsLoss", "MSELoss", "KLDivLoss", "DiceLoss",
           "ContentLoss", "StyleLoss", "UNet", "FCN", "SegNet", "DoubleConv", "UpBlock",
           "predict_with_uncertainty", "Uncertainty"]
