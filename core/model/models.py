"""Network architectures, by name. Every model takes a 1-channel image and returns N class logits.

Some also outline the tumour: `outlines_tumour(model)` is True and `model.forward_with_mask(x)` returns the
logits and a tumour-mask logit map at a quarter of the input's resolution, from a light feature-pyramid
decoder on the same backbone (`WithTumourMask`). Their plain `forward` is the classifier alone, so every
caller that only wants classes (calibration, the gate, Grad-CAM) treats them like any other network.

Each entry also names the layer Grad-CAM explains (the last convolutional block) and the early stages whose
activation statistics the out-of-distribution gate reads, so the app never has to know which architecture
it is serving.
"""

from __future__ import annotations

import dataclasses
import socket
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial

import torch
import torchvision
from torch import nn


class PretrainedWeightsUnavailable(RuntimeError):
    """ImageNet weights were asked for but are neither in the local torch cache nor downloadable."""


@dataclass(frozen=True)
class Architecture:
    build: Callable[[int], nn.Module]
    cam_layer: Callable[[nn.Module], nn.Module]
    # The first few stages, in order (each feeds the next): low-level texture and contrast statistics, which
    # tell a photograph or a document from an MRI slice far better than the class-specific last layers do.
    early_stages: Callable[[nn.Module], list[nn.Module]]
    imagenet_weights: str | None = None  # torchvision weights enum, e.g. "ResNet18_Weights.IMAGENET1K_V1"


class CustomCNN(nn.Module):
    """A plain VGG-style baseline: a strided stem, four conv-conv-pool stages, global pooling, one linear layer."""

    def __init__(self, num_classes: int, widths: tuple[int, ...] = (32, 64, 128, 256), dropout: float = 0.2):
        super().__init__()
        # The strided stem quarters the cost of everything after it; MRI detail survives at half resolution.
        layers: list[nn.Module] = [_conv_bn_relu(1, widths[0], stride=2)]
        channels = widths[0]
        for width in widths:
            layers += [_conv_bn_relu(channels, width), _conv_bn_relu(width, width), nn.MaxPool2d(2)]
            channels = width
        self.features = nn.Sequential(*layers[:-1])  # the last pool is replaced by global pooling
        self.head = nn.Sequential(
            nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Dropout(dropout), nn.Linear(channels, num_classes)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))


def _conv_bn_relu(channels_in: int, channels_out: int, stride: int = 1) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(channels_in, channels_out, 3, stride=stride, padding=1, bias=False),
        nn.BatchNorm2d(channels_out),
        nn.ReLU(inplace=True),
    )


def _resnet18(num_classes: int) -> nn.Module:
    model = torchvision.models.resnet18(num_classes=num_classes)
    model.conv1 = _one_channel(model.conv1)
    return model


def _efficientnet_b0(num_classes: int) -> nn.Module:
    model = torchvision.models.efficientnet_b0(num_classes=num_classes)
    model.features[0][0] = _one_channel(model.features[0][0])
    return model


def _mobilenet_v3_small(num_classes: int) -> nn.Module:
    # torchvision's BatchNorm momentum of 0.01 suits ImageNet's million steps; on a few thousand images the
    # running statistics lag the weights for many epochs and evaluation-mode accuracy sits at chance.
    norm_layer = partial(nn.BatchNorm2d, eps=0.001, momentum=0.1)
    model = torchvision.models.mobilenet_v3_small(num_classes=num_classes, norm_layer=norm_layer)
    model.features[0][0] = _one_channel(model.features[0][0])
    return model


class WithTumourMask(nn.Module):
    """A MobileNetV3 classifier with a tumour-mask head beside its class head, trained together.

    The decoder is torchvision's FeaturePyramidNetwork over four backbone stages (strides 4, 8, 16, 32); the mask
    is read from its finest level. The classifier's modules keep their names (`features`, `avgpool`,
    `classifier`), so its Grad-CAM layer and the gate's early stages are found as in the plain network."""

    def __init__(self, classifier: nn.Module, taps: tuple[int, ...], width: int = 32):
        super().__init__()
        self.features, self.avgpool, self.classifier = classifier.features, classifier.avgpool, classifier.classifier
        self.taps = taps
        with torch.no_grad():
            channels = [tensor.shape[1] for tensor in self._tapped(torch.zeros(1, 1, 64, 64))[1].values()]
        self.pyramid = torchvision.ops.FeaturePyramidNetwork(channels, width)
        self.mask_head = nn.Sequential(
            nn.Conv2d(width, width, 3, padding=1, bias=False),
            nn.BatchNorm2d(width, eps=0.001, momentum=0.1),
            nn.ReLU(inplace=True),
            nn.Conv2d(width, 1, 1),
        )
        # Start from "no tumour anywhere" (sigmoid ≈ 2 %): most pixels of every slice are not tumour.
        nn.init.constant_(self.mask_head[-1].bias, -4.0)

    def _tapped(self, x: torch.Tensor) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        taps = {}
        for index, layer in enumerate(self.features):
            x = layer(x)
            if index in self.taps:
                taps[str(index)] = x
        return x, taps

    def _classify(self, features: torch.Tensor) -> torch.Tensor:
        return self.classifier(torch.flatten(self.avgpool(features), 1))

    def forward(self, x: torch.Tensor, with_mask: bool = False):
        """Class logits (N, C); with `with_mask`, also the tumour-mask logits (N, 1, S/4, S/4)."""
        if not with_mask:
            return self._classify(self.features(x))
        features, taps = self._tapped(x)
        finest = next(iter(self.pyramid(taps).values()))
        return self._classify(features), self.mask_head(finest)

    def forward_with_mask(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self.forward(x, with_mask=True)


def _mobilenet_v3_small_mask(num_classes: int) -> nn.Module:
    # Stages 1, 3, 8 and 12 end at strides 4, 8, 16 and 32 (16, 24, 48 and 576 channels).
    return WithTumourMask(_mobilenet_v3_small(num_classes), taps=(1, 3, 8, 12))


def outlines_tumour(model: nn.Module) -> bool:
    return hasattr(model, "forward_with_mask")


def _one_channel(conv: nn.Conv2d) -> nn.Conv2d:
    """The same convolution for grayscale input."""
    return nn.Conv2d(1, conv.out_channels, conv.kernel_size, conv.stride, conv.padding, bias=conv.bias is not None)


ARCHITECTURES: dict[str, Architecture] = {
    "custom_cnn": Architecture(CustomCNN, lambda m: m.features[-1], lambda m: list(m.features[:7])),
    "resnet18": Architecture(
        _resnet18,
        lambda m: m.layer4[-1],
        lambda m: [nn.Sequential(m.conv1, m.bn1, m.relu, m.maxpool), m.layer1, m.layer2],
        "ResNet18_Weights.IMAGENET1K_V1",
    ),
    "efficientnet_b0": Architecture(
        _efficientnet_b0,
        lambda m: m.features[-1],
        lambda m: list(m.features[:4]),
        "EfficientNet_B0_Weights.IMAGENET1K_V1",
    ),
    "mobilenet_v3_small": Architecture(
        _mobilenet_v3_small,
        lambda m: m.features[-1],
        lambda m: list(m.features[:5]),
        "MobileNet_V3_Small_Weights.IMAGENET1K_V1",
    ),
}
# The mask network keeps the classifier's module names, so its Grad-CAM layer, early stages and ImageNet weights
# are the plain network's; only the builder differs.
ARCHITECTURES["mobilenet_v3_small_mask"] = dataclasses.replace(
    ARCHITECTURES["mobilenet_v3_small"], build=_mobilenet_v3_small_mask
)


def build_model(name: str, num_classes: int, pretrained: bool = False) -> nn.Module:
    if name not in ARCHITECTURES:
        raise ValueError(f"unknown architecture {name!r}; choose from {', '.join(ARCHITECTURES)}")
    architecture = ARCHITECTURES[name]
    model = architecture.build(num_classes)
    if pretrained:
        if architecture.imagenet_weights is None:
            raise PretrainedWeightsUnavailable(f"{name} has no ImageNet weights; train it from scratch")
        _load_imagenet(model, architecture.imagenet_weights)
    return model


def cam_layer(name: str, model: nn.Module) -> nn.Module:
    return ARCHITECTURES[name].cam_layer(model)


def early_stages(name: str, model: nn.Module) -> list[nn.Module]:
    return ARCHITECTURES[name].early_stages(model)


def _load_imagenet(model: nn.Module, weights_name: str, timeout_s: float = 30.0) -> None:
    """Copy ImageNet weights into `model`, summing the first layer's RGB filters into one gray filter.

    Uses the torch hub cache; downloads only when it is missing, with a socket timeout so a machine
    without internet gets a clear error instead of a hang.
    """
    weights = torchvision.models.get_weight(weights_name)
    previous_timeout = socket.getdefaulttimeout()
    socket.setdefaulttimeout(timeout_s)
    try:
        state = weights.get_state_dict(progress=False, check_hash=True)
    except Exception as error:
        raise PretrainedWeightsUnavailable(
            f"ImageNet weights {weights_name} are not in the torch cache ({torch.hub.get_dir()}) and could "
            f"not be downloaded ({error}). Train from scratch, or fetch them on a machine with internet."
        ) from error
    finally:
        socket.setdefaulttimeout(previous_timeout)
    own = model.state_dict()
    for key, value in state.items():
        if key in own and own[key].shape != value.shape:
            if value.ndim == 4 and value.shape[1] == 3 and own[key].shape[1] == 1:
                state[key] = value.sum(dim=1, keepdim=True)
            else:  # the classifier: a different number of classes keeps its fresh initialisation
                state[key] = own[key]
    model.load_state_dict(state)
