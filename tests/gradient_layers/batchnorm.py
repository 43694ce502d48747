"""A batch-norm-like layer (training mode, batch statistics, no running averages): correct,
and wrong. ``y = gamma * (x - mean) / sqrt(var + eps) + beta``, statistics over axis 0."""

from __future__ import annotations

import numpy as np

EPS = 1e-5


class BatchNorm:
    def __init__(self, features):
        self.gamma = np.ones(features)
        self.beta = np.zeros(features)
        self.eps = EPS

    def forward(self, x):
        mean = x.mean(axis=0)
        self.std = np.sqrt(x.var(axis=0) + self.eps)
        self.x_hat = (x - mean) / self.std
        return self.gamma * self.x_hat + self.beta

    def _grad_x(self, gradient):
        d_hat = gradient * self.gamma
        return (d_hat - d_hat.mean(axis=0) - self.x_hat * (d_hat * self.x_hat).mean(axis=0)) / self.std

    def backward(self, gradient):
        self.grad_gamma = (gradient * self.x_hat).sum(axis=0)
        self.grad_beta = gradient.sum(axis=0)
        return self._grad_x(gradient)

    def update(self, learn_rate):
        self.gamma -= learn_rate * self.grad_gamma
        self.beta -= learn_rate * self.grad_beta


class BatchNormMissingMean(BatchNorm):
    """Sums where the batch mean's derivative needs means: a missing 1/B."""

    def _grad_x(self, gradient):
        d_hat = gradient * self.gamma
        return (d_hat - d_hat.sum(axis=0) - self.x_hat * (d_hat * self.x_hat).sum(axis=0)) / self.std


class BatchNormConstantStatistics(BatchNorm):
    """Treats the batch mean and variance as constants."""

    def _grad_x(self, gradient):
        return gradient * self.gamma / self.std


class BatchNormGammaMean(BatchNorm):
    """An extra 1/B in the gradient of gamma."""

    def backward(self, gradient):
        grad_x = super().backward(gradient)
        self.grad_gamma = (gradient * self.x_hat).mean(axis=0)
        return grad_x


class BatchNormBetaSign(BatchNorm):
    def backward(self, gradient):
        grad_x = super().backward(gradient)
        self.grad_beta = -self.grad_beta
        return grad_x


def torch_batchnorm(x, gamma, beta):
    mean = x.mean(dim=0)
    var = ((x - mean) ** 2).mean(dim=0)
    return gamma * (x - mean) / (var + EPS).sqrt() + beta


CORRECT = {BatchNorm: torch_batchnorm}
WRONG = {
    BatchNormMissingMean: "missing 1/B in dL/dx",
    BatchNormConstantStatistics: "ignores that the batch statistics depend on x",
    BatchNormGammaMean: "an extra 1/B in the gamma gradient",
    BatchNormBetaSign: "sign error in the beta gradient",
}
