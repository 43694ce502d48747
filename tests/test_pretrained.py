"""The solutions' ``AdaptedVGG(weights="DEFAULT")`` reads ImageNet weights from torch's cache only.

Nothing may be downloaded while grading, so :mod:`fmlgrade.spec.worker.pretrained`
loads the VGG-11 weights from ``torch.hub.get_dir()/checkpoints/<file>``
(which follows ``$TORCH_HOME``) and otherwise says where to put the file.

To stay fast, these tests swap torchvision's ``vgg11`` inside the helper for
a tiny model with VGG's layout (``features``, ``avgpool`` and a
``classifier`` whose last Linear is cut off) and fabricate its weight file,
under the real file name, in a temporary ``$TORCH_HOME``. Every way to the
network is blocked.
"""

from __future__ import annotations

import urllib.request

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("torchvision")

from torch import nn  # noqa: E402
from torchvision.models import VGG11_Weights  # noqa: E402

import fmlgrade.solutions.alternative.part3 as alternative_part3  # noqa: E402
import fmlgrade.solutions.reference.part3 as reference_part3  # noqa: E402
from fmlgrade.spec.worker import pretrained  # noqa: E402

FILE_NAME = "vgg11-8a719046.pth"  # the last part of VGG11_Weights.IMAGENET1K_V1.url


class TinyVGG(nn.Module):
    """VGG's attribute layout at a fraction of the size."""

    def __init__(self) -> None:
        super().__init__()
        self.features = nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2))
        self.avgpool = nn.AdaptiveAvgPool2d((2, 2))
        self.classifier = nn.Sequential(
            nn.Linear(16, 8), nn.ReLU(), nn.Dropout(), nn.Linear(8, 8), nn.ReLU(), nn.Dropout(),
            nn.Linear(8, 5),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(torch.flatten(self.avgpool(self.features(x)), 1))


def tiny_vgg11(weights=None, **kwargs) -> TinyVGG:
    assert weights is None, "the helper must never ask torchvision to fetch weights"
    return TinyVGG()


@pytest.fixture
def torch_home(tmp_path, monkeypatch):
    """An empty $TORCH_HOME, a tiny vgg11 in the helper, and no network."""
    home = tmp_path / "torch-home"
    monkeypatch.setenv("TORCH_HOME", str(home))
    monkeypatch.setattr(torch.hub, "_hub_dir", None)  # in case anything called set_dir
    monkeypatch.setattr(pretrained, "vgg11", tiny_vgg11)

    def no_network(*args, **kwargs):
        raise AssertionError("tried to download something")

    monkeypatch.setattr(torch.hub, "load_state_dict_from_url", no_network)
    monkeypatch.setattr(torch.hub, "download_url_to_file", no_network)
    monkeypatch.setattr(urllib.request, "urlopen", no_network)
    return home


def _fabricate_weights(home) -> dict[str, torch.Tensor]:
    """Write a weight file with TinyVGG's keys and shapes where torch's cache keeps VGG-11's."""
    generator = torch.Generator().manual_seed(0)
    state = {
        k: torch.randn(v.shape, generator=generator) for k, v in TinyVGG().state_dict().items()
    }
    path = home / "hub" / "checkpoints" / FILE_NAME
    path.parent.mkdir(parents=True)
    torch.save(state, path)
    return state


def test_the_file_is_where_torchvision_would_cache_it(torch_home):
    path = pretrained.vgg11_weights_path("DEFAULT")
    assert path == torch_home / "hub" / "checkpoints" / FILE_NAME
    assert VGG11_Weights.IMAGENET1K_V1.url.endswith("/" + FILE_NAME)
    assert not pretrained.vgg11_weights_available()


@pytest.mark.parametrize(
    "module", [reference_part3, alternative_part3], ids=["reference", "alternative"]
)
@pytest.mark.parametrize("weights", ["DEFAULT", "IMAGENET1K_V1", VGG11_Weights.IMAGENET1K_V1])
def test_adapted_vgg_loads_the_cached_weights(torch_home, module, weights):
    state = _fabricate_weights(torch_home)
    model = module.AdaptedVGG(weights=weights)
    backbone = model.vgg.state_dict()
    # The last Linear (classifier.6, the 1000 ImageNet classes) is cut off.
    assert set(backbone) == {k for k in state if not k.startswith("classifier.6.")}
    for key, value in backbone.items():
        assert torch.equal(value, state[key]), key
    assert not any(p.requires_grad for p in model.vgg.parameters())
    assert not any(m.training for m in model.vgg.modules())
    assert all(p.requires_grad for p in model.head.parameters())


def test_dropout_adapted_vgg_loads_them_too(torch_home):
    state = _fabricate_weights(torch_home)
    model = reference_part3.DropoutAdaptedVGG(weights="DEFAULT")
    assert torch.equal(model.vgg.features[0].weight, state["features.0.weight"])


def test_without_the_file_the_message_says_where_to_put_it(torch_home):
    path = torch_home / "hub" / "checkpoints" / FILE_NAME
    with pytest.raises(pretrained.PretrainedWeightsMissing) as info:
        reference_part3.AdaptedVGG(weights="DEFAULT")
    message = str(info.value)
    assert str(path) in message
    assert VGG11_Weights.IMAGENET1K_V1.url in message
    assert "weights=None" in message
    assert isinstance(info.value, FileNotFoundError)


def test_a_broken_file_is_reported_with_what_to_do(torch_home):
    path = torch_home / "hub" / "checkpoints" / FILE_NAME
    path.parent.mkdir(parents=True)
    path.write_bytes(b"not a checkpoint, maybe half a download")
    with pytest.raises(RuntimeError, match="Delete the file") as info:
        reference_part3.AdaptedVGG(weights="DEFAULT")
    assert str(path) in str(info.value)


def test_unknown_weights_are_refused(torch_home):
    with pytest.raises(ValueError, match="DEFAULT"):
        reference_part3.AdaptedVGG(weights="IMAGENET")
