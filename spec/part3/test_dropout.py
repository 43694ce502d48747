"""Task 3.3: ``DropoutAdaptedVGG`` drops a fifth of the VGG features, in train mode only.

The dropout is found by its behaviour, not by attribute names: a forward
pre-hook on the head's first ``nn.Linear`` (the one with 4096 inputs), put
there by an observer beside the student's code
(:mod:`fmlgrade.spec.worker.part3_observers`), sees what enters the head, and that is
compared with the backbone's output ``vgg(x)`` in eval mode, which the check
computes itself with the skeleton's VGG and the known weights the observer
gave the student's ``self.vgg``
(:func:`fmlgrade.spec.part3.support.expected_outputs`). So an ``nn.Dropout``
module, ``F.dropout(..., training=self.training)`` in ``forward`` or a
dropout put at the front of the head all pass, wherever the attribute sits.
What the hook saw is an intermediate value from the student's side, so it is
tied to what the model returned: each output must be the grader's own copy of
the head (with the known weights) applied to the input the hook saw.
The two sides may round the backbone's output differently in the last bit,
so features within :data:`FEATURE_ATOL` of 0 count as neither live nor dead.

* Train mode: where the backbone's output is non-zero, the head receives
  either 0 or the feature divided by 0.8 (inverted dropout with p = 0.2), and
  the share of zeros is 0.2 within :data:`FRACTION_TOLERANCE`; two forwards
  draw different masks.
* Eval mode: the head receives exactly the backbone's output, and the model's
  output is ``head(vgg(x))``, the same on every call.
* Both modes: forward's output is ``head(received)``, computed here.

The freezing and the backbone's eval mode belong to 3.1a/3.1b (a
``DropoutAdaptedVGG`` that subclasses ``AdaptedVGG`` inherits them), so they
are not checked again here.
"""

from __future__ import annotations

import pytest
import torch

from fmlgrade.spec.assertions import assert_close, assert_shape
from fmlgrade.spec.part3 import support as s
from fmlgrade.spec.worker import part3_observers as obs
from fmlgrade.spec.worker import part3_support as h

pytestmark = pytest.mark.task("3.3")

P = 0.2
#: Non-zero backbone features seen per forward: ~2,000 per image (VGG's last ReLU
#: zeroes about half of the 4096), 2 images: ~4,000. The share of dropped ones
#: then has a standard deviation of sqrt(0.2 * 0.8 / 4000) = 0.006, so +-0.03 is
#: five standard deviations (a correct dropout fails with probability < 1e-6 per
#: forward; the draws are seeded, so grades do not vary anyway), while p = 0.5
#: or 0.8 (the keep probability) land at 0.5 and 0.8.
FRACTION_TOLERANCE = 0.03
#: Kept features must be feature / 0.8 up to float32 rounding (~1e-7 relative);
#: no scaling (factor 1) or p = 0.5 (factor 2) are far off.
SCALE_RTOL = 1e-4
#: Backbone features are computed on both sides; their rounding may differ by ~1e-7 of the
#: largest feature. Features within this fraction of the largest count as neither live
#: nor dead, and it is the absolute slack of every comparison of single features.
FEATURE_ATOL = 1e-5
RTOL, ATOL = 1e-5, 1e-6
BATCH, SEED = 2, 21
WHAT = "DropoutAdaptedVGG(weights=None)"


@pytest.fixture(scope="module", autouse=True)
def _one_vgg_at_a_time(submission, device):
    """Expected outputs before the student's model is built; that model let go after (one VGG at a time)."""
    with s.one_vgg_at_a_time(BATCH, device, SEED, lambda: submission.observe(obs.release_models)):
        yield


def _expected(built: dict, device) -> tuple[torch.Tensor, torch.Tensor]:
    """The backbone's output for the test images (eval mode) and head(vgg(x)), computed here."""
    problem = s.layout_problem(built.get("layout") if isinstance(built, dict) else None, WHAT)
    if problem:
        raise AssertionError(problem)
    features, outputs = s.expected_outputs(BATCH, device, SEED)
    assert_shape(features, (BATCH, h.VGG_FEATURES), what="DropoutAdaptedVGG: self.vgg(x)")
    return features, outputs


def test_train_mode_drops_a_fifth_of_the_features_and_rescales(submission, device):
    """In train mode the head receives the VGG features with 20% set to 0 and the rest / 0.8."""
    observed = submission.observe(obs.dropout_train_inputs, str(device), BATCH, SEED)
    features, _ = _expected(observed["built"], device)
    seen = observed["seen"]
    where = f"DropoutAdaptedVGG in train mode, for {s.describe_images(BATCH, device, SEED)}"
    # Modules of self.vgg in train mode, as the student's side describes them: only to word a failure.
    training = observed.get("vgg_training") or []
    backbone = (
        f" (after model.train(), modules of self.vgg are in train mode: {s.frozen_names(training)}; "
        f"DropoutAdaptedVGG must keep AdaptedVGG's train(), which puts the backbone back into eval mode)"
        if training else ""
    )
    if len(seen) != 2:
        raise AssertionError(
            f"{where}: the head's first Linear ran {len(seen)} times in two forward passes "
            f"(expected once per forward)"
        )
    slack = FEATURE_ATOL * float(features.abs().max())
    live = features.abs() > slack
    dead = features == 0
    n_live = int(live.sum())
    scaled = features / (1 - P)
    masks = []
    for received in seen:
        if not isinstance(received, torch.Tensor) or received.shape != features.shape:
            shape = tuple(received.shape) if isinstance(received, torch.Tensor) else "?"
            raise AssertionError(
                f"{where}: the head's first Linear received shape {shape}, "
                f"expected the backbone's {tuple(features.shape)}"
            )
        received = received.to(features.dtype)
        dropped = received == 0
        kept = live & ~dropped
        off = (received[kept] - scaled[kept]).abs() > SCALE_RTOL * scaled[kept].abs() + slack
        leaked = dead & (received.abs() > 2 * slack)
        if bool(leaked.any()):
            raise AssertionError(
                f"{where}: {int(leaked.sum())} features that self.vgg(x) puts out as 0 reached "
                f"the head as non-zero values: the head must receive self.vgg(x) with dropout "
                f"applied, nothing else{backbone}"
            )
        if bool(off.any()):
            ratio = received[kept][off] / features[kept][off]
            sample = ratio[:5].tolist()
            raise AssertionError(
                f"{where}: the head must receive each backbone feature either set to 0 or "
                f"divided by (1 - p) = 0.8 (i.e. times 1.25); {int(off.sum())} of the kept "
                f"features were scaled otherwise (e.g. by {[round(r, 4) for r in sample]}). "
                f"Use nn.Dropout(p=0.2), which rescales for you{backbone}"
            )
        fraction = float((live & dropped).sum()) / n_live
        if abs(fraction - P) > FRACTION_TOLERANCE:
            raise AssertionError(
                f"{where}: the head's input has {fraction:.1%} of the non-zero backbone features "
                f"set to 0, expected {P:.0%} +- {FRACTION_TOLERANCE:.0%} (dropout with p = 0.2 "
                f"between self.vgg and the head)"
            )
        masks.append(dropped & live)
    if torch.equal(masks[0], masks[1]):
        raise AssertionError(
            f"{where}: two forward passes dropped exactly the same features; dropout must draw "
            f"a new random mask on every forward pass"
        )
    _outputs_follow_the_head(observed.get("outputs"), seen, where)


def _outputs_follow_the_head(outputs, seen: list, where: str) -> None:
    """Each forward's output is the known head applied to what its first Linear received (computed here)."""
    if not isinstance(outputs, list) or len(outputs) != len(seen):
        raise AssertionError(f"{where}: forward must return one output per call")
    head = s.known_head()
    for output, received in zip(outputs, seen, strict=True):
        with torch.no_grad():
            expected = head(received.to(torch.float32))
        assert_close(
            output, expected.numpy(),
            what=f"{where}: forward(x), which must be self.head applied to what its first Linear "
            f"received (nothing after the head)",
            rtol=RTOL, atol=ATOL,
        )


def test_eval_mode_has_no_dropout_and_is_deterministic(submission, device):
    """In eval mode the head receives the VGG features unchanged and forward is head(vgg(x))."""
    observed = submission.observe(obs.dropout_eval, str(device), BATCH, SEED)
    where = f"DropoutAdaptedVGG in eval mode, for {s.describe_images(BATCH, device, SEED)}"
    if not observed["seen"]:
        raise AssertionError(f"{where}: forward did not pass the features through self.head")
    features, expected = _expected(observed["built"], device)
    slack = FEATURE_ATOL * float(features.abs().max())
    # Equal to head(vgg(x)), a fixed value: so also the same on every call.
    assert_close(
        observed["seen"][0], features.numpy(),
        what=f"{where}: the input of the head's first Linear (must be self.vgg(x) unchanged)",
        rtol=RTOL, atol=max(ATOL, slack),
    )
    first = observed["output"]
    assert_shape(first, (BATCH, 1), what=f"{where}: forward(x)")
    assert_close(first, expected.numpy(), what=f"{where}: forward(x)", rtol=RTOL, atol=ATOL)
