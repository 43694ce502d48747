"""Tasks 3.1a (AdaptedVGG freezes its backbone) and 3.1b (``AdaptedVGG.forward``).

The student's ``AdaptedVGG(weights=None)`` is built once per solution (see
:mod:`fmlgrade.spec.part3.helpers`) and shared by these checks. Everything is
judged against the model's own ``self.vgg`` and ``self.head`` (the skeleton's
names), never against fixed numbers: with ``weights=None`` the values of the
weights mean nothing.

3.1a looks at what the constructor leaves behind: every backbone parameter
non-trainable, every head parameter trainable, and a backward pass through
``head(vgg(x))`` (computed here, not by the student's ``forward``) leaves no
gradient in the backbone. 3.1b looks at ``forward``: shape ``(B, 1)``, equal
to ``head(vgg(x))`` in both modes, gradients reaching the head through it,
and the backbone in eval mode after ``model.train()`` (its own dropout off),
so that ``AdaptedVGG`` is deterministic in train mode.
"""

from __future__ import annotations

import pytest
import torch

from fmlgrade.spec.assertions import assert_close
from fmlgrade.spec.outcomes import prerequisite
from fmlgrade.spec.part3 import helpers as h

#: Two float32 forward passes through the same modules agree to ~1e-7; the
#: mistakes seen (an extra sigmoid, a missing one) move outputs by > 0.1.
RTOL, ATOL = 1e-5, 1e-6


@pytest.fixture(scope="module", autouse=True)
def _release_vgg():
    yield
    h.release_models()


def _model(submission, device, *, graded: bool) -> h.BuiltModel:
    """The solution's AdaptedVGG(weights=None); outside 3.1a its constructor is a prerequisite."""
    cls = submission.require("AdaptedVGG")
    if graded:
        return h.built_model(cls, device, what="AdaptedVGG")
    with prerequisite("AdaptedVGG(weights=None) (the constructor, task 3.1a)"):
        return h.built_model(cls, device, what="AdaptedVGG")


# ---------------------------------------------------------------- 3.1a
@pytest.mark.task("3.1a")
def test_backbone_parameters_are_frozen(submission, device):
    """After the constructor, no parameter of self.vgg requires a gradient."""
    built = _model(submission, device, graded=True)
    backbone = {n: g for n, g in built.requires_grad.items() if n.startswith("vgg.")}
    trainable = [name for name, requires_grad in backbone.items() if requires_grad]
    if not backbone:
        raise AssertionError("AdaptedVGG(weights=None): self.vgg has no parameters")
    if trainable:
        total = len(backbone)
        raise AssertionError(
            f"AdaptedVGG(weights=None): {len(trainable)} of the {total} parameters of self.vgg "
            f"still have requires_grad=True ({h.frozen_names(trainable)}); the constructor must "
            f"freeze the whole backbone, e.g. self.vgg.requires_grad_(False)"
        )


@pytest.mark.task("3.1a")
def test_head_parameters_stay_trainable(submission, device):
    """After the constructor, every parameter of self.head requires a gradient."""
    built = _model(submission, device, graded=True)
    head = [(n, g) for n, g in built.requires_grad.items() if n.startswith("head.")]
    frozen = [name for name, requires_grad in head if not requires_grad]
    if not head:
        raise AssertionError("AdaptedVGG(weights=None): self.head has no parameters")
    if frozen:
        raise AssertionError(
            f"AdaptedVGG(weights=None): {len(frozen)} of the {len(head)} parameters of self.head "
            f"have requires_grad=False ({h.frozen_names(frozen)}); only the backbone self.vgg "
            f"is frozen, the head must stay trainable"
        )


@pytest.mark.task("3.1a")
def test_no_gradient_reaches_the_backbone(submission, device):
    """A backward pass through head(vgg(x)) gives the head gradients and the backbone none."""
    built = _model(submission, device, graded=True)
    model = built.model
    trainable = [f"vgg.{name}" for name, p in model.vgg.named_parameters() if p.requires_grad]
    if trainable:
        # Not run: it would hold gradients for the whole backbone (~500 MB).
        raise AssertionError(
            f"a backward pass through model.head(model.vgg(x)) would compute gradients for "
            f"{len(trainable)} parameters of self.vgg ({h.frozen_names(trainable)}); the "
            f"constructor must freeze the backbone (self.vgg.requires_grad_(False))"
        )
    frozen_head = [
        f"head.{name}" for name, p in model.head.named_parameters() if not p.requires_grad
    ]
    if frozen_head:
        raise AssertionError(
            f"a backward pass through model.head(model.vgg(x)) gives no gradient to "
            f"{h.frozen_names(frozen_head)}: the head must stay trainable"
        )
    x = h.random_images(1, device, seed=11)
    model.eval()
    try:
        model.head(model.vgg(x)).sum().backward()
        with_grad = [
            f"vgg.{name}" for name, p in model.vgg.named_parameters() if p.grad is not None
        ]
        head_grads = [p.grad for p in model.head.parameters()]
    finally:
        model.zero_grad(set_to_none=True)
    if with_grad:
        raise AssertionError(
            f"after model.head(model.vgg(x)).sum().backward(), {len(with_grad)} parameters of "
            f"self.vgg got a gradient ({h.frozen_names(with_grad)}): the backbone must be frozen "
            f"so that backpropagation stops at the head"
        )
    if any(g is None for g in head_grads) or not any(bool(g.abs().sum() > 0) for g in head_grads):
        raise AssertionError(
            "after model.head(model.vgg(x)).sum().backward(), the parameters of self.head got "
            "no gradient: the head must stay trainable"
        )


# ---------------------------------------------------------------- 3.1b
BATCH, SEED = 2, 5


def _features(built: h.BuiltModel, device) -> tuple[torch.Tensor, torch.Tensor]:
    with prerequisite("self.vgg(x) (the backbone built by the skeleton)"):
        return built.images_and_features(BATCH, device, SEED)


def _forward(model, x, *, train: bool) -> torch.Tensor:
    model.train(train)
    try:
        with torch.no_grad():
            out = model(x)
    finally:
        model.eval()
    if not isinstance(out, torch.Tensor):
        raise AssertionError(f"AdaptedVGG.forward must return a tensor, got {type(out).__name__}")
    return out


@pytest.mark.task("3.1b")
def test_forward_is_the_head_applied_to_the_vgg_features(submission, device):
    """forward maps (B, 3, H, W) images to (B, 1): self.head(self.vgg(x))."""
    built = _model(submission, device, graded=False)
    x, features = _features(built, device)
    out = _forward(built.model, x, train=False)
    with torch.no_grad():
        expected = built.model.head(features)
    assert_close(
        out, expected.cpu().numpy(),
        what=f"AdaptedVGG.forward(x) in eval mode, for {h.describe_images(BATCH, device, SEED)}",
        rtol=RTOL, atol=ATOL,
    )


@pytest.mark.task("3.1b")
def test_backbone_stays_in_eval_mode_after_train(submission, device):
    """After model.train() the backbone stays in eval mode: forward is still head(vgg(x))."""
    built = _model(submission, device, graded=False)
    model = built.model
    if built.vgg_training:
        raise AssertionError(
            f"right after AdaptedVGG(weights=None), modules of self.vgg are in train mode "
            f"({h.frozen_names(built.vgg_training)}); the constructor must call self.vgg.eval()"
        )
    x, features = _features(built, device)
    try:
        model.train()
        training = [name or "vgg" for name, m in model.vgg.named_modules() if m.training]
        if training:
            raise AssertionError(
                f"after model.train(), modules of self.vgg are in train mode "
                f"({h.frozen_names(training)}): VGG's own dropout would then fire; keep the "
                f"skeleton's train() that puts self.vgg back into eval mode"
            )
        if not model.training or not all(m.training for m in model.head.modules()):
            raise AssertionError(
                "after model.train(), the model and its head must be in train mode"
            )
    finally:
        model.eval()
    out = _forward(model, x, train=True)
    with torch.no_grad():
        expected = model.head(features)
    assert_close(
        out, expected.cpu().numpy(),
        what=f"AdaptedVGG.forward(x) in train mode (self.head(self.vgg(x)) with the backbone in "
        f"eval mode), for {h.describe_images(BATCH, device, SEED)}",
        rtol=RTOL, atol=ATOL,
    )


@pytest.mark.task("3.1b")
def test_gradients_reach_the_head_through_forward(submission, device):
    """A backward pass from forward's output gives every head parameter a gradient."""
    model = _model(submission, device, graded=False).model
    x = h.random_images(1, device, seed=3)
    # Which parameters are trainable is 3.1a's business: give forward the contract's
    # freezing (and spare ~500 MB of backbone gradients when the backbone is not frozen).
    flags = {name: p.requires_grad for name, p in model.named_parameters()}
    model.vgg.requires_grad_(False)
    model.head.requires_grad_(True)
    model.train()
    try:
        out = model(x)
        if not isinstance(out, torch.Tensor) or not out.requires_grad:
            raise AssertionError(
                "AdaptedVGG.forward(x) returned a tensor that does not require a gradient, so "
                "the head cannot be trained: compute the head's output with gradients enabled "
                "(no torch.no_grad() around it)"
            )
        out.sum().backward()
        missing = [
            f"head.{name}" for name, p in model.head.named_parameters()
            if p.grad is None or not bool(p.grad.abs().sum() > 0)
        ]
    finally:
        model.zero_grad(set_to_none=True)
        model.eval()
        for name, p in model.named_parameters():
            p.requires_grad_(flags[name])
    if missing:
        raise AssertionError(
            f"after model(x).sum().backward(), {h.frozen_names(missing)} got no gradient: "
            f"forward must pass the VGG features through self.head"
        )
