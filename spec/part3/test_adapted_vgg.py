"""Tasks 3.1a (AdaptedVGG freezes its backbone) and 3.1b (``AdaptedVGG.forward``).

The student's ``AdaptedVGG(weights=None)`` is built once per solution, beside
the student's code, and shared by these checks (see
:mod:`fmlgrade.spec.worker.part3_observers`). Right after construction its
``self.vgg`` and ``self.head`` (the skeleton's names) get known weights, and
everything the observers send back is judged here against the skeleton's
modules with the same weights (:mod:`fmlgrade.spec.part3.support`), never
against fixed numbers (with ``weights=None`` the values of the weights mean
nothing) and never against what the student's side says about itself.

3.1a is judged by what training does, as the contract's consumers meet it:
one SGD step on ``head(vgg(x)).sum()`` (composed by the observer from the
model's own modules, not by the student's ``forward``) updates every tensor
that autograd gives a gradient, whatever the model's lists say. Afterwards
``self.vgg(x)`` must be what the grader's frozen copy computes (no backbone
parameter trained), and the head's parameters what one SGD step of the
grader's head gives (every head parameter trained). 3.1b looks at
``forward``'s outputs: shape ``(B, 1)``, equal to ``head(vgg(x))`` in eval
mode, right after the constructor and after ``model.train()`` (so the backbone
stays in eval mode: VGG's own dropout would change the outputs), and a
training step through ``forward`` moves the head as the grader's does. A model
whose ``self.vgg`` or ``self.head`` lacks the skeleton's parameter shapes
cannot be compared with the skeleton's modules, and fails with a message
saying so.
"""

from __future__ import annotations

import pytest
import torch

from fmlgrade.spec.assertions import assert_close
from fmlgrade.spec.part3 import support as s
from fmlgrade.spec.worker import part3_observers as obs
from fmlgrade.spec.worker import part3_support as w

#: Two float32 forward passes through the same modules agree to ~1e-7; the
#: mistakes seen (an extra sigmoid, a missing one) move outputs by > 0.1.
RTOL, ATOL = 1e-5, 1e-6
WHAT = "AdaptedVGG(weights=None)"
#: The test images of 3.1: random_images(BATCH, device, SEED).
BATCH, SEED = w.FORWARD_BATCH, w.FORWARD_SEED
#: The learning rate of the training steps: the head's parameters move by ~1e-3 to 1e-2, a
#: trainable backbone changes the features by ~10.
LR = 0.01
#: One SGD step, computed on both sides from features that may differ in the last bit.
STEP_RTOL, STEP_ATOL = 1e-4, 1e-6
#: Backbone features are computed on both sides; their rounding may differ by ~1e-7 of the largest.
FEATURE_ATOL = 1e-5


#: The training step of 3.1a, by (solution, device): both of its checks judge the same step.
_STEPS: dict[tuple[str, str], dict] = {}


@pytest.fixture(scope="module", autouse=True)
def _one_vgg_at_a_time(submission, device):
    """Expected outputs before the student's model is built; that model let go after (one VGG at a time)."""
    s.expected_outputs(BATCH, "cpu", SEED)  # for the forward right after construction (on the CPU)
    _STEPS.clear()
    with s.one_vgg_at_a_time(BATCH, device, SEED, lambda: submission.observe(obs.release_models)):
        yield
    _STEPS.clear()


def _check_layout(built: dict) -> None:
    """The outputs can only be compared with the skeleton's modules if the model has their layout."""
    problem = s.layout_problem(built.get("layout") if isinstance(built, dict) else None, WHAT)
    if problem:
        raise AssertionError(problem)


def _step(submission, device) -> dict:
    key = (submission.name, str(device))
    if key not in _STEPS:
        _STEPS[key] = submission.observe(obs.vgg_training_step, str(device), LR)
    seen = _STEPS[key]
    _check_layout(seen["built"])
    return seen


def _head_names(built: dict) -> list[str]:
    return [f"head.{name}" for name, _ in built["layout"]["head"]]


def _compare_head(head: object, expected: list[torch.Tensor], names: list[str]) -> tuple[list[str], list[str]]:
    """(head parameters that did not move, head parameters that moved but not as one SGD step moves them)."""
    initial = list(s.known_head().parameters())
    got = list(head) if isinstance(head, (list, tuple)) else []
    if len(got) != len(expected):
        return list(names), []
    still, off = [], []
    for name, value, start, want in zip(names, got, initial, expected, strict=True):
        if not isinstance(value, torch.Tensor) or tuple(value.shape) != tuple(want.shape):
            off.append(name)
        elif torch.equal(value.to(torch.float32), start.detach()) and not torch.equal(want, start.detach()):
            still.append(name)
        elif not bool(((value.double() - want.double()).abs() <= STEP_ATOL + STEP_RTOL * want.double().abs()).all()):
            off.append(name)
    return still, off


# ---------------------------------------------------------------- 3.1a
@pytest.mark.task("3.1a")
def test_backbone_parameters_are_frozen(submission, device):
    """A training step leaves self.vgg as it was: no parameter of the backbone trains."""
    seen = _step(submission, device)
    # What trained, as the student's side names it: only to word a failure.
    order = [f"vgg.{name}" for name, _ in seen["built"]["layout"]["vgg"]]
    trained = sorted(
        {str(name) for name in seen.get("trained", []) if str(name) in order}, key=order.index
    )
    total = len(order)
    call = (
        f"{WHAT}, then one SGD step (on every tensor that requires a gradient) on "
        f"model.head(model.vgg(x)).sum()"
    )
    features, _ = s.expected_outputs(BATCH, device, SEED)
    after = seen["features"]
    slack = FEATURE_ATOL * float(features.abs().max())
    if not isinstance(after, torch.Tensor) or tuple(after.shape) != tuple(features.shape) or not bool(
        ((after.double() - features.double()).abs() <= slack + RTOL * features.double().abs()).all()
    ):
        which = (
            f"{len(trained)} of the {total} parameters of self.vgg still have requires_grad=True "
            f"({s.frozen_names(trained)})" if trained else "parameters of self.vgg were trained"
        )
        raise AssertionError(
            f"{call}: self.vgg(x) changed, so the backbone trains: {which}. The constructor must "
            f"freeze the whole backbone, e.g. self.vgg.requires_grad_(False)"
        )


@pytest.mark.task("3.1a")
def test_head_parameters_stay_trainable(submission, device):
    """A training step moves every parameter of self.head, exactly as one SGD step does."""
    seen = _step(submission, device)
    names = _head_names(seen["built"])
    features, _ = s.expected_outputs(BATCH, device, SEED)
    still, off = _compare_head(seen["head"], s.expected_head_step(features, LR), names)
    call = f"{WHAT}, then one SGD step (lr={LR}) on model.head(model.vgg(x)).sum()"
    if still:
        raise AssertionError(
            f"{call}: {len(still)} of the {len(names)} parameters of self.head did not change "
            f"({s.frozen_names(still)}), so they do not require a gradient; only the backbone "
            f"self.vgg is frozen, the head must stay trainable"
        )
    if off:
        raise AssertionError(
            f"{call}: the parameters of self.head changed otherwise than one SGD step of the "
            f"skeleton's head changes them ({s.frozen_names(off)}): keep the skeleton's head, "
            f"trainable, and compute model.head(model.vgg(x)) as the skeleton does"
        )


# ---------------------------------------------------------------- 3.1b
@pytest.mark.task("3.1b")
def test_forward_is_the_head_applied_to_the_vgg_features(submission, device):
    """forward maps (B, 3, H, W) images to (B, 1): self.head(self.vgg(x))."""
    seen = submission.observe(obs.vgg_forward, str(device), BATCH, SEED)
    _check_layout(seen["built"])
    _, expected = s.expected_outputs(BATCH, device, SEED)
    assert_close(
        seen["output"], expected.numpy(),
        what=f"AdaptedVGG.forward(x) in eval mode, for {s.describe_images(BATCH, device, SEED)}",
        rtol=RTOL, atol=ATOL,
    )


def _matches(value: object, expected: torch.Tensor) -> bool:
    return (
        isinstance(value, torch.Tensor)
        and tuple(value.shape) == tuple(expected.shape)
        and bool(((value.double() - expected.double()).abs() <= ATOL + RTOL * expected.double().abs()).all())
    )


@pytest.mark.task("3.1b")
def test_backbone_stays_in_eval_mode_after_train(submission, device):
    """Right after the constructor and after model.train(), forward is still head(vgg(x)) (no VGG dropout)."""
    seen = submission.observe(obs.vgg_train_mode, str(device), BATCH, SEED)
    _check_layout(seen["built"])
    _, fresh_expected = s.expected_outputs(BATCH, "cpu", SEED)
    _, expected = s.expected_outputs(BATCH, device, SEED)
    fresh = seen["fresh"]
    if not _matches(fresh, fresh_expected):
        hint = seen["built"].get("vgg_training") or []
        if isinstance(fresh, str):
            detail = f"it raised {fresh}"
        elif hint:
            detail = (
                f"modules of self.vgg were in train mode ({s.frozen_names(hint)}), so VGG's "
                f"dropout fired"
            )
        else:
            detail = "it differs from self.head(self.vgg(x)) with the backbone in eval mode"
        raise AssertionError(
            f"forward(x) right after AdaptedVGG(weights=None), before any model.train() or "
            f"model.eval(), for {s.describe_images(BATCH, 'cpu', SEED)}: {detail}; the "
            f"constructor must call self.vgg.eval()"
        )
    if not _matches(seen["output"], expected):
        eval_mode = submission.observe(obs.vgg_forward, str(device), BATCH, SEED)["output"]
        if not _matches(eval_mode, expected):
            raise AssertionError(
                "after model.train(), forward(x) is not self.head(self.vgg(x)) either (see the "
                "check of forward in eval mode)"
            )
        hint = seen.get("vgg_training") or []
        which = f" (modules of self.vgg in train mode: {s.frozen_names(hint)})" if hint else ""
        raise AssertionError(
            f"after model.train(), forward(x) for {s.describe_images(BATCH, device, SEED)} differs "
            f"from its value in eval mode: the backbone must stay in eval mode{which}, or VGG's own "
            f"dropout fires; keep the skeleton's train() that puts self.vgg back into eval mode"
        )


@pytest.mark.task("3.1b")
def test_gradients_reach_the_head_through_forward(submission, device):
    """A training step through forward(x) moves every head parameter as one SGD step of head(vgg(x)) does."""
    seen = submission.observe(obs.vgg_forward_step, str(device), LR)
    _check_layout(seen["built"])
    names = _head_names(seen["built"])
    features, _ = s.expected_outputs(BATCH, device, SEED)
    still, off = _compare_head(seen["head"], s.expected_head_step(features, LR), names)
    call = f"one SGD step (lr={LR}) on model(x).sum() in train mode, the backbone frozen"
    if len(still) == len(names):
        raise AssertionError(
            f"{call}: no parameter of self.head changed, so forward's output carries no gradient "
            f"to the head; compute the head's output with gradients enabled (no torch.no_grad() "
            f"or .detach() around it)"
        )
    if still:
        raise AssertionError(
            f"{call}: {s.frozen_names(still)} got no gradient: forward must pass the VGG features "
            f"through all of self.head"
        )
    if off:
        raise AssertionError(
            f"{call}: the head's parameters changed otherwise than through self.head(self.vgg(x)) "
            f"({s.frozen_names(off)}); forward must return self.head(self.vgg(x)) itself"
        )
