"""Task 3.3: ``DropoutAdaptedVGG`` drops a fifth of the VGG features, in train mode only.

The dropout is found by its behaviour, not by attribute names: a forward
pre-hook on the head's first ``nn.Linear`` (the one with 4096 inputs) sees
what enters the head, and that is compared with the backbone's output
``model.vgg(x)`` computed by the check in eval mode. So an ``nn.Dropout``
module, ``F.dropout(..., training=self.training)`` in ``forward`` or a
dropout put at the front of the head all pass, wherever the attribute sits.

* Train mode: where the backbone's output is non-zero, the head receives
  either 0 or the feature divided by 0.8 (inverted dropout with p = 0.2), and
  the share of zeros is 0.2 within :data:`FRACTION_TOLERANCE`; two forwards
  draw different masks.
* Eval mode: the head receives exactly the backbone's output, and the model's
  output is ``head(vgg(x))``, the same on every call.

The freezing and the backbone's eval mode belong to 3.1a/3.1b (a
``DropoutAdaptedVGG`` that subclasses ``AdaptedVGG`` inherits them), so they
are not checked again here.
"""

from __future__ import annotations

import pytest
import torch

from fmlgrade.spec.assertions import assert_close, assert_shape
from fmlgrade.spec.outcomes import prerequisite
from fmlgrade.spec.part3 import helpers as h

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
RTOL, ATOL = 1e-5, 1e-6
BATCH, SEED = 2, 21


@pytest.fixture(scope="module", autouse=True)
def _release_vgg():
    yield
    h.release_models()


def _model(submission, device) -> h.BuiltModel:
    cls = submission.require("DropoutAdaptedVGG")
    return h.built_model(cls, device, what="DropoutAdaptedVGG")


def _features(built: h.BuiltModel, device) -> tuple[torch.Tensor, torch.Tensor]:
    """Test images and the backbone's output for them, computed with the model in eval mode."""
    with prerequisite("self.vgg(x) (the backbone of DropoutAdaptedVGG)"):
        x, features = built.images_and_features(BATCH, device, SEED)
    assert_shape(features, (BATCH, h.VGG_FEATURES), what="DropoutAdaptedVGG: self.vgg(x)")
    return x, features


def test_train_mode_drops_a_fifth_of_the_features_and_rescales(submission, device):
    """In train mode the head receives the VGG features with 20% set to 0 and the rest / 0.8."""
    built = _model(submission, device)
    model = built.model
    linear = h.first_head_linear(model, what="DropoutAdaptedVGG")
    x, features = _features(built, device)
    features = features.cpu()
    try:
        model.train()
        training = [name or "vgg" for name, m in model.vgg.named_modules() if m.training]
        if training:
            raise AssertionError(
                f"after model.train(), modules of self.vgg are in train mode "
                f"({h.frozen_names(training)}): DropoutAdaptedVGG must keep AdaptedVGG's train(), "
                f"which puts the backbone back into eval mode"
            )
        with torch.no_grad(), h.seeded(SEED), h.capture_inputs(linear) as seen:
            model(x)
            model(x)
    finally:
        model.eval()
    where = f"DropoutAdaptedVGG in train mode, for {h.describe_images(BATCH, device, SEED)}"
    if len(seen) != 2:
        raise AssertionError(
            f"{where}: the head's first Linear ran {len(seen)} times in two forward passes "
            f"(expected once per forward)"
        )
    live = features != 0
    n_live = int(live.sum())
    masks = []
    for received in seen:
        received = received.cpu()
        if received.shape != features.shape:
            raise AssertionError(
                f"{where}: the head's first Linear received shape {tuple(received.shape)}, "
                f"expected the backbone's {tuple(features.shape)}"
            )
        dropped = received == 0
        kept = live & ~dropped
        ratio = received[kept] / features[kept]
        off = (ratio - 1 / (1 - P)).abs() > SCALE_RTOL / (1 - P)
        if bool((received[~live] != 0).any()):
            raise AssertionError(
                f"{where}: {int((received[~live] != 0).sum())} features that self.vgg(x) puts out "
                f"as 0 reached the head as non-zero values: the head must receive self.vgg(x) "
                f"with dropout applied, nothing else"
            )
        if bool(off.any()):
            sample = ratio[off][:5].tolist()
            raise AssertionError(
                f"{where}: the head must receive each backbone feature either set to 0 or "
                f"divided by (1 - p) = 0.8 (i.e. times 1.25); {int(off.sum())} of the kept "
                f"features were scaled otherwise (e.g. by {[round(r, 4) for r in sample]}). "
                f"Use nn.Dropout(p=0.2), which rescales for you"
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


def test_eval_mode_has_no_dropout_and_is_deterministic(submission, device):
    """In eval mode the head receives the VGG features unchanged and forward is head(vgg(x))."""
    built = _model(submission, device)
    model = built.model
    linear = h.first_head_linear(model, what="DropoutAdaptedVGG")
    x, features = _features(built, device)
    model.train()  # then back: eval must switch the dropout off again
    model.eval()
    with torch.no_grad(), h.capture_inputs(linear) as seen:
        first = model(x)
        expected = model.head(features)
    where = f"DropoutAdaptedVGG in eval mode, for {h.describe_images(BATCH, device, SEED)}"
    if len(seen) < 2:
        raise AssertionError(f"{where}: forward did not pass the features through self.head")
    # Equal to head(vgg(x)), a fixed value: so also the same on every call.
    assert_close(
        seen[0], features.cpu().numpy(),
        what=f"{where}: the input of the head's first Linear (must be self.vgg(x) unchanged)",
        rtol=RTOL, atol=ATOL,
    )
    assert_shape(first, (BATCH, 1), what=f"{where}: forward(x)")
    assert_close(first, expected.cpu().numpy(), what=f"{where}: forward(x)", rtol=RTOL, atol=ATOL)
