"""Softmax with cross-entropy, the mean over the batch, as a function with a VJP: correct, and
wrong. ``loss = mean_n(-log softmax(logits)[n, labels[n]])``, a scalar."""

from __future__ import annotations

import numpy as np
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

SIZES = {"classes": st.integers(2, 5)}
INPUTS = {"logits": ("batch", "classes")}


def labels_for(sizes):
    """Integer labels, one per sample, in range(classes)."""
    return hnp.arrays(np.int64, sizes["batch"], elements=st.integers(0, sizes["classes"] - 1))


CONSTANTS = {"labels": labels_for}


def _softmax(logits):
    shifted = logits - logits.max(axis=1, keepdims=True)
    e = np.exp(shifted)
    return e / e.sum(axis=1, keepdims=True)


def softmax_cross_entropy(logits, labels):
    shifted = logits - logits.max(axis=1, keepdims=True)
    log_softmax = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
    return -log_softmax[np.arange(len(labels)), labels].mean()


def _one_hot(labels, classes, dtype):
    one_hot = np.zeros((len(labels), classes), dtype=dtype)
    one_hot[np.arange(len(labels)), labels] = 1
    return one_hot


def softmax_cross_entropy_vjp(gradient, logits, labels):
    probabilities = _softmax(logits)
    return gradient * (probabilities - _one_hot(labels, logits.shape[1], logits.dtype)) / len(labels)


def vjp_missing_mean(gradient, logits, labels):
    probabilities = _softmax(logits)
    return gradient * (probabilities - _one_hot(labels, logits.shape[1], logits.dtype))


def vjp_sign_error(gradient, logits, labels):
    probabilities = _softmax(logits)
    return gradient * (_one_hot(labels, logits.shape[1], logits.dtype) - probabilities) / len(labels)


def vjp_ignores_gradient(gradient, logits, labels):
    probabilities = _softmax(logits)
    return (probabilities - _one_hot(labels, logits.shape[1], logits.dtype)) / len(labels)


def vjp_in_place(gradient, logits, labels):
    """Right values, but overwrites the caller's logits with the probabilities."""
    logits -= logits.max(axis=1, keepdims=True)
    np.exp(logits, out=logits)
    logits /= logits.sum(axis=1, keepdims=True)
    logits -= _one_hot(labels, logits.shape[1], logits.dtype)
    return gradient * logits / len(labels)


def vjp_in_place_gradient(gradient, logits, labels):
    """Right values, but scales the caller's (0-d) upstream gradient in place."""
    gradient /= len(labels)
    return gradient * (_softmax(logits) - _one_hot(labels, logits.shape[1], logits.dtype))


def torch_softmax_cross_entropy(logits, labels):
    import torch

    return torch.nn.functional.cross_entropy(logits, torch.as_tensor(labels))


WRONG = {
    vjp_missing_mean: "missing 1/B",
    vjp_sign_error: "sign error",
    vjp_ignores_gradient: "ignores the incoming gradient",
    vjp_in_place: "in-place change of the logits it is given",
    vjp_in_place_gradient: "in-place change of the incoming gradient",
}
