import time

import pytest
import torch

from core.model.models import ARCHITECTURES, PretrainedWeightsUnavailable, build_model, cam_layer


@pytest.mark.parametrize("name", sorted(ARCHITECTURES))
def test_every_architecture_takes_gray_input_and_returns_class_logits(name):
    model = build_model(name, num_classes=4).eval()
    with torch.no_grad():
        assert model(torch.randn(2, 1, 64, 64)).shape == (2, 4)
    layer = cam_layer(name, model)
    assert any(isinstance(m, torch.nn.Conv2d) for m in layer.modules())


def test_unknown_architecture_names_the_choices():
    with pytest.raises(ValueError, match="resnet18"):
        build_model("vgg99", 4)


def test_imagenet_weights_without_cache_or_network_fail_fast(tmp_path, monkeypatch):
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path))
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))

    def no_network(*args, **kwargs):
        raise OSError("network is unreachable")

    monkeypatch.setattr(torch.hub, "download_url_to_file", no_network)
    started = time.monotonic()
    with pytest.raises(PretrainedWeightsUnavailable, match="not in the torch cache"):
        build_model("resnet18", 4, pretrained=True)
    assert time.monotonic() - started < 10


def test_custom_cnn_has_no_imagenet_weights():
    with pytest.raises(PretrainedWeightsUnavailable, match="from scratch"):
        build_model("custom_cnn", 4, pretrained=True)


def test_cached_imagenet_weights_are_adapted_to_gray_input_and_new_classes(monkeypatch):
    import torchvision

    imagenet = torchvision.models.resnet18(num_classes=1000).state_dict()

    class CachedWeights:
        def get_state_dict(self, **kwargs):
            return dict(imagenet)

    monkeypatch.setattr(torchvision.models, "get_weight", lambda name: CachedWeights())
    model = build_model("resnet18", 4, pretrained=True)
    assert torch.allclose(model.conv1.weight, imagenet["conv1.weight"].sum(dim=1, keepdim=True))
    assert torch.equal(model.layer4[1].conv2.weight, imagenet["layer4.1.conv2.weight"])
    assert model.fc.weight.shape == (4, 512)
