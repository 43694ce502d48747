"""Tasks 3.1a (AdaptedVGG freezes its backbone) and 3.1b (``AdaptedVGG.forward``).

The student's ``AdaptedVGG(weights=None)`` is built once per solution, beside
the student's code, and shared by these checks (see
:mod:`fmlgrade.spec.worker.part3_observers`); the checks only see what the observers
report. Right after construction its ``self.vgg`` and ``self.head`` (the
skeleton's names) get known weights, and its outputs are judged against the
skeleton's modules with the same weights, computed here
(:func:`fmlgrade.spec.worker.part3_support.expected_outputs`), never against fixed
numbers: with ``weights=None`` the values of the weights mean nothing.

3.1a looks at what the constructor leaves behind: every backbone parameter
non-trainable, every head parameter trainable, and a backward pass through
``head(vgg(x))`` (composed by the observer from the model's own modules, not
by the student's ``forward``) leaves no gradient in the backbone. 3.1b looks at ``forward``: shape ``(B, 1)``, equal
to ``head(vgg(x))`` in both modes, gradients reaching the head through it,
and the backbone in eval mode after ``model.train()`` (its own dropout off),
so that ``AdaptedVGG`` is deterministic in train mode. A model whose
``self.vgg`` or ``self.head`` lacks the skeleton's parameter shapes cannot be
compared with the skeleton's modules, and fails the output checks with a
message saying so.
"""

from __future__ import annotations

import pytest

from fmlgrade.spec.assertions import assert_close
from fmlgrade.spec.worker import part3_observers as obs
from fmlgrade.spec.worker import part3_support as h

#: Two float32 forward passes through the same modules agree to ~1e-7; the
#: mistakes seen (an extra sigmoid, a missing one) move outputs by > 0.1.
RTOL, ATOL = 1e-5, 1e-6
WHAT = "AdaptedVGG(weights=None)"
#: The test images of 3.1b: random_images(BATCH, device, SEED).
BATCH, SEED = 2, 5


@pytest.fixture(scope="module", autouse=True)
def _one_vgg_at_a_time(submission, device):
    """Expected outputs before the student's model is built; that model let go after (one VGG at a time)."""
    with h.one_vgg_at_a_time(BATCH, device, SEED, lambda: submission.observe(obs.release_models)):
        yield


def _check_layout(built: dict) -> None:
    """The outputs can only be compared with the skeleton's modules if the model has their layout."""
    problem = h.layout_problem(built["layout"], WHAT)
    if problem:
        raise AssertionError(problem)


# ---------------------------------------------------------------- 3.1a
@pytest.mark.task("3.1a")
def test_backbone_parameters_are_frozen(submission, device):
    """After the constructor, no parameter of self.vgg requires a gradient."""
    built = submission.observe(obs.vgg_description, "AdaptedVGG")
    backbone = {n: g for n, g in built["requires_grad"].items() if n.startswith("vgg.")}
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
    built = submission.observe(obs.vgg_description, "AdaptedVGG")
    head = [(n, g) for n, g in built["requires_grad"].items() if n.startswith("head.")]
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
    seen = submission.observe(obs.vgg_backward, str(device), 11)
    trainable, frozen_head = seen["trainable_vgg"], seen["frozen_head"]
    if trainable:
        # Not run: it would hold gradients for the whole backbone (~500 MB).
        raise AssertionError(
            f"a backward pass through model.head(model.vgg(x)) would compute gradients for "
            f"{len(trainable)} parameters of self.vgg ({h.frozen_names(trainable)}); the "
            f"constructor must freeze the backbone (self.vgg.requires_grad_(False))"
        )
    if frozen_head:
        raise AssertionError(
            f"a backward pass through model.head(model.vgg(x)) gives no gradient to "
            f"{h.frozen_names(frozen_head)}: the head must stay trainable"
        )
    with_grad = seen["vgg_with_grad"]
    if with_grad:
        raise AssertionError(
            f"after model.head(model.vgg(x)).sum().backward(), {len(with_grad)} parameters of "
            f"self.vgg got a gradient ({h.frozen_names(with_grad)}): the backbone must be frozen "
            f"so that backpropagation stops at the head"
        )
    if not seen["ran"] or not seen["head_grad"]:
        raise AssertionError(
            "after model.head(model.vgg(x)).sum().backward(), the parameters of self.head got "
            "no gradient: the head must stay trainable"
        )


# ---------------------------------------------------------------- 3.1b
@pytest.mark.task("3.1b")
def test_forward_is_the_head_applied_to_the_vgg_features(submission, device):
    """forward maps (B, 3, H, W) images to (B, 1): self.head(self.vgg(x))."""
    seen = submission.observe(obs.vgg_forward, str(device), BATCH, SEED)
    _check_layout(seen["built"])
    _, expected = h.expected_outputs(BATCH, device, SEED)
    assert_close(
        seen["output"], expected.numpy(),
        what=f"AdaptedVGG.forward(x) in eval mode, for {h.describe_images(BATCH, device, SEED)}",
        rtol=RTOL, atol=ATOL,
    )


@pytest.mark.task("3.1b")
def test_backbone_stays_in_eval_mode_after_train(submission, device):
    """After model.train() the backbone stays in eval mode: forward is still head(vgg(x))."""
    seen = submission.observe(obs.vgg_train_mode, str(device), BATCH, SEED)
    built = seen["built"]
    if built["vgg_training"]:
        raise AssertionError(
            f"right after AdaptedVGG(weights=None), modules of self.vgg are in train mode "
            f"({h.frozen_names(built['vgg_training'])}); the constructor must call self.vgg.eval()"
        )
    if seen["vgg_training"]:
        raise AssertionError(
            f"after model.train(), modules of self.vgg are in train mode "
            f"({h.frozen_names(seen['vgg_training'])}): VGG's own dropout would then fire; keep "
            f"the skeleton's train() that puts self.vgg back into eval mode"
        )
    if not seen["model_training"] or not seen["head_training"]:
        raise AssertionError("after model.train(), the model and its head must be in train mode")
    _check_layout(built)
    _, expected = h.expected_outputs(BATCH, device, SEED)
    assert_close(
        seen["output"], expected.numpy(),
        what=f"AdaptedVGG.forward(x) in train mode (self.head(self.vgg(x)) with the backbone in "
        f"eval mode), for {h.describe_images(BATCH, device, SEED)}",
        rtol=RTOL, atol=ATOL,
    )


@pytest.mark.task("3.1b")
def test_gradients_reach_the_head_through_forward(submission, device):
    """A backward pass from forward's output gives every head parameter a gradient."""
    seen = submission.observe(obs.vgg_forward_gradients, str(device), 3)
    if not seen["requires_grad"]:
        raise AssertionError(
            "AdaptedVGG.forward(x) returned a tensor that does not require a gradient, so "
            "the head cannot be trained: compute the head's output with gradients enabled "
            "(no torch.no_grad() around it)"
            if seen["is_tensor"]
            else f"AdaptedVGG.forward must return a tensor, got {seen['output_type']}"
        )
    if seen["missing"]:
        raise AssertionError(
            f"after model(x).sum().backward(), {h.frozen_names(seen['missing'])} got no gradient: "
            f"forward must pass the VGG features through self.head"
        )
