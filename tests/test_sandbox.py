"""The operating-system sandbox (:mod:`fmlgrade.harness.sandbox`) and the boundary it is drawn from.

Level resolution and ``--require-isolation`` are tested on any machine (a
machine without namespaces is simulated). What a worker sees and may do inside
the namespace sandbox is tested where bubblewrap works here, twice: with a bare
Python process in :func:`~fmlgrade.harness.sandbox.bwrap_command`'s sandbox
(no Python hooks at all: the operating system alone must hold) and with a real
worker started by :class:`~fmlgrade.harness.isolation.WorkerClient`.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import textwrap
import uuid
from pathlib import Path

import pytest

from fmlgrade.harness import boundary, cli, process_limits, sandbox
from fmlgrade.harness.isolation import IsolatedSolution, IsolationSettings, WorkerClient, _torch_home
from fmlgrade.harness.solution import SourceFile
from fmlgrade.solutions.reference import part1 as reference_part1

NAMESPACES, WHY_NOT = sandbox.namespaces_work()
needs_namespaces = pytest.mark.skipif(
    not NAMESPACES, reason=f"the namespace sandbox is not available on this machine: {WHY_NOT}"
)
NOBODY = (65534, 65534)


# -- levels ---------------------------------------------------------------------------------------


@pytest.fixture
def no_namespaces(monkeypatch):
    """A machine whose kernel refuses bubblewrap's namespaces."""
    monkeypatch.setattr(sandbox, "namespaces_work", lambda: (False, "the kernel refused (simulated)"))


@pytest.fixture
def with_namespaces(monkeypatch):
    monkeypatch.setattr(sandbox, "namespaces_work", lambda: (True, ""))


def _secrets(monkeypatch, unreadable: bool, why: str = "") -> None:
    monkeypatch.setattr(sandbox, "secrets_unreadable_to", lambda uid, gid: (unreadable, why))


def test_levels_are_ordered_weakest_first():
    assert sandbox.LEVELS == ("none", "process", "user", "namespace")
    assert sandbox.level_at_least("namespace", "user") and sandbox.level_at_least("user", "user")
    assert not sandbox.level_at_least("process", "user") and not sandbox.level_at_least("none", "process")
    assert sandbox.check_level("require", "user") == "user"
    assert sandbox.check_level("sandbox", "auto", allow_auto=True) == "auto"
    with pytest.raises(ValueError, match="require must be one of none, process, user, namespace"):
        sandbox.check_level("require", "auto")
    with pytest.raises(ValueError):
        IsolationSettings(require="chroot")


def test_auto_picks_the_namespace_sandbox_where_it_works(with_namespaces):
    assert sandbox.resolve_level("auto", "none", None) == ("namespace", "")
    assert sandbox.resolve_level("auto", "namespace", NOBODY) == ("namespace", "")
    # a weaker level asked for by name is granted, with nothing to excuse
    assert sandbox.resolve_level("process", "none", None) == ("process", "")


def test_without_namespaces_auto_falls_back_to_a_user_the_secrets_are_unreadable_to(no_namespaces, monkeypatch):
    _secrets(monkeypatch, True)
    level, why = sandbox.resolve_level("auto", "user", NOBODY)
    assert level == "user"
    assert "simulated" in why  # the report says why not namespace


def test_without_namespaces_a_user_who_could_read_the_secrets_is_only_process_level(no_namespaces, monkeypatch):
    _secrets(monkeypatch, False, "/srv/fmlgrade/solutions is readable by other users")
    level, why = sandbox.resolve_level("auto", "none", NOBODY)
    assert level == "process"
    assert "simulated" in why and "readable by other users" in why
    with pytest.raises(sandbox.IsolationUnavailable, match="'user' or stronger.*only 'process'"):
        sandbox.resolve_level("auto", "user", NOBODY)
    with pytest.raises(sandbox.IsolationUnavailable, match="isolation 'user' is not available"):
        sandbox.resolve_level("user", "none", NOBODY)


def test_without_namespaces_and_without_a_user_of_its_own_only_hooks_remain(no_namespaces):
    level, why = sandbox.resolve_level("auto", "none", None)
    assert level == "process"
    assert "grader's own user" in why
    with pytest.raises(sandbox.IsolationUnavailable, match="isolation 'namespace' is not available.*simulated"):
        sandbox.resolve_level("namespace", "none", None)


@pytest.mark.parametrize("required", ["user", "namespace"])
def test_require_isolation_refuses_anything_weaker(no_namespaces, required):
    with pytest.raises(sandbox.IsolationUnavailable) as refused:
        sandbox.resolve_level("auto", required, None)
    message = str(refused.value)
    assert repr(required) in message and "'process'" in message and "simulated" in message
    assert "--require-isolation" in message  # says what to do about it
    # asking for a weak level by name does not get around it
    with pytest.raises(sandbox.IsolationUnavailable):
        sandbox.resolve_level("process", required, None)


def test_in_process_grading_of_a_submission_is_refused_when_any_isolation_is_required():
    untrusted = type("Untrusted", (), {"trusted": False})()
    trusted = type("Trusted", (), {"trusted": True})()
    assert IsolationSettings(require="none").in_process_level(untrusted) == "none"
    assert IsolationSettings(require="namespace").in_process_level(trusted) == "none"  # the grader's own code
    with pytest.raises(sandbox.IsolationUnavailable, match="grader's own process"):
        IsolationSettings(require="process").in_process_level(untrusted)


def test_the_command_line_refuses_to_grade_below_the_required_level(no_namespaces, tmp_path, capsys):
    submission = tmp_path / "student.py"
    submission.write_text("def add_padding(images, padding):\n    return images\n")
    report = tmp_path / "report.json"
    code = cli.main(["check", str(submission), "--part", "1", "--profile", "quick", "--json", str(report),
                     "--worker-user", "self", "--require-isolation", "namespace"])
    assert code == cli.EXIT_USAGE
    error = capsys.readouterr().err
    assert "namespace" in error and "simulated" in error
    assert not report.exists()


# -- the user-level fallback: secret paths judged by their permissions ---------------------------------


@pytest.fixture
def secret_tree(tmp_path, monkeypatch):
    """Stand-in secret paths (a file and a folder) the boundary lists."""
    folder, answer = tmp_path / "solutions", tmp_path / "answers.py"
    folder.mkdir()
    (folder / "part1.py").write_text("ANSWER = 42\n")
    answer.write_text("ANSWER = 42\n")
    folder.chmod(0o700)
    answer.chmod(0o600)
    monkeypatch.setattr(boundary, "secret_paths", lambda: [folder, answer, tmp_path / "missing"])
    return folder, answer


def _other_ids(path: Path) -> tuple[int, int]:
    """A uid and gid that own neither ``path`` nor its group."""
    info = path.stat()
    uid, gid = NOBODY
    return (uid if uid != info.st_uid else uid - 1), (gid if gid != info.st_gid else gid - 1)


def test_secret_paths_closed_to_others_pass(secret_tree):
    folder, _ = secret_tree
    assert sandbox.secrets_unreadable_to(*_other_ids(folder)) == (True, "")


@pytest.mark.parametrize(
    ("which", "mode"), [(1, 0o604), (0, 0o705), (0, 0o701)], ids=["file-o+r", "dir-o+r", "dir-o+x"]
)
def test_a_secret_path_open_to_others_fails_and_says_how_to_close_it(secret_tree, which, mode):
    path = secret_tree[which]
    path.chmod(mode)
    unreadable, why = sandbox.secrets_unreadable_to(*_other_ids(path))
    assert not unreadable
    assert str(path) in why and "chmod -R o-rwx" in why


def test_a_secret_path_of_the_workers_own_user_or_group_fails(secret_tree):
    folder, answer = secret_tree
    info = answer.stat()
    assert not sandbox.secrets_unreadable_to(info.st_uid, NOBODY[1])[0]
    assert not sandbox.secrets_unreadable_to(NOBODY[0], info.st_gid)[0]
    assert "belongs to the worker's user or group" in sandbox.secrets_unreadable_to(info.st_uid, info.st_gid)[1]


def test_the_secret_paths_hold_the_answers_and_not_the_worker_folders():
    paths = [p.resolve() for p in boundary.secret_paths()]
    reference = Path(reference_part1.__file__).resolve()
    assert any(reference == p or p in reference.parents for p in paths)
    for package in boundary.worker_packages():
        assert not any(package.folder == p or p in package.folder.parents for p in paths)


# -- inside the namespace sandbox, the operating system alone (no Python hooks) ------------------------


def _in_sandbox(script: str, workdir: Path, *, read_only: tuple[str, ...] = (), timeout: float = 60) -> dict:
    """Run ``script`` with the sandbox's Python, no hooks, in bubblewrap; it prints one JSON object."""
    environment = process_limits.worker_environment(str(workdir), process_limits.WorkerLimits(), None)
    command = sandbox.bwrap_command(
        [sys.executable, "-I", "-S", "-c", textwrap.dedent(script)],
        workdir=str(workdir), environment=environment, read_only=read_only,
    )
    done = subprocess.run(command, capture_output=True, text=True, timeout=timeout,
                          env={"PATH": "/usr/bin:/bin"}, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def _grader_paths_to_hide() -> list[str]:
    """Real paths the worker must not see: every secret path, the package folders, the reference's file."""
    paths = {str(p.resolve()) for p in boundary.secret_paths()}
    paths |= {str(root.folder) for root in boundary.package_roots()}
    paths.add(str(Path(reference_part1.__file__).resolve()))
    # the checkout (an editable installation) or site-packages/fmlgrade
    source_root = Path(reference_part1.__file__).resolve().parents[2]
    for name in ("tests", ".git", "pyproject.toml"):
        if (source_root / name).exists():
            paths.add(str(source_root / name))
    return sorted(paths)


@pytest.fixture
def scratch(tmp_path):
    folder = tmp_path / "scratch"
    folder.mkdir()
    return folder


@needs_namespaces
def test_the_sandbox_holds_none_of_the_graders_files(scratch):
    hidden = _grader_paths_to_hide()
    seen = _in_sandbox(f"""
        import json, os
        print(json.dumps({{p: os.path.lexists(p) for p in {hidden!r}}}))
    """, scratch)
    assert seen == {p: False for p in hidden}


@needs_namespaces
def test_the_sandbox_holds_the_worker_folders_and_the_python_installation(scratch):
    worker_files = {
        f"{sandbox.WORKER_ROOT}/{package.name.replace('.', '/')}/__init__.py" for package in boundary.worker_packages()
    }
    seen = _in_sandbox(f"""
        import json, os, sys
        print(json.dumps({{"files": {{p: os.path.isfile(p) for p in {sorted(worker_files)!r}}},
                           "python": os.path.isfile({sys.executable!r}), "cwd": os.getcwd()}}))
    """, scratch)
    assert seen == {"files": {p: True for p in worker_files}, "python": True, "cwd": str(scratch)}


@needs_namespaces
def test_the_sandbox_has_its_own_processes_and_no_network(scratch):
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)
    port = listener.getsockname()[1]
    abstract = f"\0fmlgrade-test-{uuid.uuid4().hex}"
    unix_listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    unix_listener.bind(abstract)
    unix_listener.listen(1)
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=5):
            pass  # the grader's side of the test works
        seen = _in_sandbox(f"""
            import json, os, socket
            def connect(family, address):
                s = socket.socket(family, socket.SOCK_STREAM)
                s.settimeout(5)
                try:
                    s.connect(address)
                    return "connected"
                except OSError as exc:
                    return type(exc).__name__
                finally:
                    s.close()
            print(json.dumps({{
                "pid": os.getpid(),
                "pids": sorted(int(p) for p in os.listdir("/proc") if p.isdigit()),
                "grader_visible": os.path.exists("/proc/{os.getpid()}/cwd") and {os.getpid()} > 2,
                "interfaces": [name for _, name in socket.if_nameindex()],
                "tcp": connect(socket.AF_INET, ("127.0.0.1", {port})),
                "unix": connect(socket.AF_UNIX, {abstract!r}),
                "uid": os.getuid(),
            }}))
        """, scratch)
    finally:
        listener.close()
        unix_listener.close()
    assert seen["pid"] == 2 and set(seen["pids"]) <= {1, 2}, seen
    assert not seen["grader_visible"]
    assert seen["interfaces"] == ["lo"]
    assert seen["tcp"] != "connected" and seen["unix"] != "connected", seen
    assert seen["uid"] == sandbox.SANDBOX_ID


@needs_namespaces
def test_the_sandbox_writes_nowhere_but_its_scratch_folder(scratch, tmp_path):
    token = uuid.uuid4().hex
    outside = tmp_path / "grader_folder"
    outside.mkdir()
    read_only = tmp_path / "shared"
    read_only.mkdir()
    (read_only / "data.txt").write_text("grader's copy\n")
    tmp_probe = f"/tmp/fmlgrade-sandbox-probe-{token}"
    targets = {
        "scratch": str(scratch / "mine.txt"),
        "grader_folder": str(outside / "pwned.txt"),
        "shared": str(read_only / "data.txt"),
        "shared_new": str(read_only / "new.txt"),
        "tmp": tmp_probe,
        "root": f"/pwned-{token}",
        "python": os.path.join(os.path.dirname(os.path.realpath(sys.executable)), f"pwned-{token}"),
        "worker_folder": f"{sandbox.WORKER_ROOT}/fmlgrade/harness/worker/pwned.py",
    }
    seen = _in_sandbox(f"""
        import json, os
        result = {{}}
        for name, path in {targets!r}.items():
            try:
                os.makedirs(os.path.dirname(path), exist_ok=True)
                with open(path, "w") as handle:
                    handle.write("written from the sandbox")
                result[name] = "written"
            except OSError as exc:
                result[name] = type(exc).__name__
        print(json.dumps(result))
    """, scratch, read_only=(str(read_only),))
    assert seen["scratch"] == "written"
    assert (scratch / "mine.txt").read_text() == "written from the sandbox"
    assert seen["shared"] != "written" and seen["shared_new"] != "written", seen
    assert (read_only / "data.txt").read_text() == "grader's copy\n"
    assert seen["python"] != "written" and seen["worker_folder"] != "written", seen
    # what it may write elsewhere (its own /tmp, its own /) is private to the sandbox
    assert list(outside.iterdir()) == []
    assert not Path(tmp_probe).exists() and not Path(f"/pwned-{token}").exists()
    assert not Path(targets["python"]).exists()


# -- a real worker in the namespace sandbox ------------------------------------------------------------


@pytest.fixture
def namespace_worker(tmp_path):
    clients: list[WorkerClient] = []

    def start(code: str) -> tuple[WorkerClient, IsolatedSolution]:
        path = tmp_path / f"student{len(clients)}.py"
        path.write_text(code)
        client = WorkerClient("student", str(path), [SourceFile(str(path), code)], level="namespace")
        clients.append(client)
        return client, IsolatedSolution(client)

    yield start
    for client in clients:
        client.close()


#: Student code's way past the worker's hooks, so that what is tested is the file system alone.
PAST_HOOKS = '''
import os


def _past_hooks(function, path):
    """``function(relative, dir_fd)`` for absolute ``path`` as the kernel resolves it, past the worker's hooks
    (the audit hook judges ``relative`` from a deep folder of the scratch folder, the kernel from ``dir_fd``)."""
    deep = os.path.join(os.getcwd(), *["d"] * 40)
    os.makedirs(deep, exist_ok=True)
    scratch = os.open(os.getcwd(), os.O_RDONLY)
    here = os.getcwd()
    os.chdir(deep)
    try:
        return function("../" * 20 + path.lstrip("/"), scratch)
    finally:
        os.chdir(here)
        os.close(scratch)
'''

WORKER_PROBES = PAST_HOOKS + '''


def lookup(paths):
    """os.stat, which no hook judges: what the file system holds."""
    return {path: os.path.lexists(path) for path in paths}


def processes():
    fd = _past_hooks(lambda relative, scratch: os.open(relative, os.O_RDONLY, dir_fd=scratch), "/proc")
    try:
        return os.getpid(), sorted(int(p) for p in os.listdir(fd) if p.isdigit())
    finally:
        os.close(fd)


def everything_visible(needle):
    """Where ``needle`` shows in any process's environment or command line (read past the hooks)."""
    found = []
    proc = _past_hooks(lambda relative, scratch: os.open(relative, os.O_RDONLY, dir_fd=scratch), "/proc")
    try:
        for pid in [p for p in os.listdir(proc) if p.isdigit()]:
            for what in ("environ", "cmdline"):
                try:
                    fd = os.open(f"{pid}/{what}", os.O_RDONLY, dir_fd=proc)
                except OSError:
                    continue
                try:
                    if needle.encode() in os.read(fd, 1 << 20):
                        found.append(f"/proc/{pid}/{what}")
                finally:
                    os.close(fd)
    finally:
        os.close(proc)
    return found
'''


@needs_namespaces
def test_a_worker_sees_none_of_the_graders_files_and_no_process_of_the_grader(namespace_worker):
    _, solution = namespace_worker(WORKER_PROBES)
    hidden = _grader_paths_to_hide()
    assert solution.get("lookup")(hidden) == {p: False for p in hidden}
    pid, pids = solution.get("processes")()
    assert pid == 2 and set(pids) <= {1, 2}


@needs_namespaces
def test_the_graders_environment_reaches_no_process_in_the_sandbox(namespace_worker, monkeypatch):
    """Not the worker's environment, nor that of anything in its PID namespace (bubblewrap's own process)."""
    token = f"fmlgrade-grader-secret-{uuid.uuid4().hex}"
    monkeypatch.setenv("FMLGRADE_TEST_GRADER_SECRET", token)
    _, solution = namespace_worker(WORKER_PROBES)
    assert solution.get("everything_visible")(token) == []


# -- symbolic links the worker plants for the grader ----------------------------------------------------


PLANTER = PAST_HOOKS + '''
import gc


def _link(target, path):
    """A link at absolute ``path`` to absolute ``target``."""
    try:
        _past_hooks(lambda relative, fd: os.symlink("../" * 40 + target.lstrip("/"), relative, dir_fd=fd), path)
        return "planted"
    except OSError as exc:
        return type(exc).__name__


def write(path):
    """Create ``path`` past the hooks: only the file system can refuse."""
    try:
        os.close(_past_hooks(lambda relative, fd: os.open(relative, os.O_WRONLY | os.O_CREAT, 0o644, dir_fd=fd), path))
        return "written"
    except OSError as exc:
        return type(exc).__name__


def shared_folders():
    return sorted({f for o in gc.get_objects() if type(o).__name__ == "FilePolicy"
                   for f in o.readable if "fmlgrade-shared-" in f})


def plant(grader_folder, names):
    """Links where the grader's next shared copies go, and into the grader's folder from the scratch folder."""
    results = {}
    for folder in shared_folders():
        for index in range(4):
            results[f"{folder}/{index}"] = _link(grader_folder, f"{folder}/{index}")
            results[f"{folder}/{index}/x"] = _link(grader_folder, f"{folder}/{index}/" + names[0])
    base = os.getcwd()
    results["scratch/grader"] = _link(grader_folder, os.path.join(base, "grader"))
    results["scratch/root"] = _link("/", os.path.join(base, "root"))
    os.symlink("loop_b", "loop_a")
    os.symlink("loop_a", "loop_b")
    os.makedirs("evidence", exist_ok=True)
    results["evidence/answer"] = _link(os.path.join(grader_folder, names[0]), os.path.join(base, "evidence", "answer"))
    with open("evidence/own.txt", "w") as handle:
        handle.write("the worker's own")
    return results


def read(path):
    with open(path) as handle:
        return handle.read()
'''


@needs_namespaces
def test_links_the_worker_plants_are_never_followed_by_the_grader(namespace_worker, tmp_path):
    grader_folder = tmp_path / "grader_folder"
    grader_folder.mkdir()
    (grader_folder / "answers.txt").write_text("the grader's answers\n")
    data = tmp_path / "dataset"
    (data / "train").mkdir(parents=True)
    (data / "train" / "answers.txt").write_text("shared data\n")
    single = tmp_path / "answers.txt"
    single.write_text("a shared file\n")
    before = {p.name: p.read_text() for p in grader_folder.iterdir()}

    client, solution = namespace_worker(PLANTER)
    planted = solution.get("plant")(str(grader_folder), ["answers.txt"])
    # The shared folder is read-only in the sandbox: nothing can be planted there.
    assert not any(v == "planted" for k, v in planted.items() if "fmlgrade-shared-" in k), planted

    copy = client.share(str(single))
    tree = client.share(str(data))
    assert client.shared_root is not None
    for path in (copy, tree):
        assert os.path.realpath(path).startswith(os.path.realpath(client.shared_root) + os.sep)
    assert solution.get("read")(copy) == "a shared file\n"
    assert solution.get("read")(os.path.join(tree, "train", "answers.txt")) == "shared data\n"

    # Evidence the grader reads from the scratch folder: the planted link to its own file is not followed.
    evidence = client.read_files("evidence")
    assert evidence == {"own.txt": b"the worker's own"}

    workdir, shared_root = client.workdir, client.shared_root
    client.close()
    assert not os.path.exists(workdir) and not os.path.exists(shared_root)
    assert {p.name: p.read_text() for p in grader_folder.iterdir()} == before  # nothing followed, nothing deleted
    assert single.read_text() == "a shared file\n" and (data / "train" / "answers.txt").exists()


@needs_namespaces
def test_the_torch_cache_and_shared_files_are_read_only_in_the_sandbox(namespace_worker):
    client, solution = namespace_worker(PLANTER)
    assert solution.get("write")(os.path.join(client.workdir, "mine.txt")) == "written"  # the trick works
    folders = solution.get("shared_folders")()
    assert folders == [client.shared_root]
    assert solution.get("write")(os.path.join(client.shared_root, "new.txt")) == "OSError"  # EROFS
    home = _torch_home()
    if os.path.isdir(home):
        assert solution.get("write")(os.path.join(home, f"new-{uuid.uuid4().hex}.pt")) != "written"
    assert not os.path.exists(os.path.join(client.shared_root, "new.txt"))


# -- the answers are secret wherever they lie ------------------------------------------------------------


def _reference_fingerprints() -> list[str]:
    """Comment lines of the reference Part 1: text only a copy of the reference (or of parts of it) holds."""
    import inspect

    lines = {line.strip() for line in inspect.getsource(reference_part1).splitlines()}
    return sorted(line for line in lines if line.startswith("# ") and len(line) > 40 and "---" not in line)


def _source_tree() -> Path | None:
    """The checkout fmlgrade is installed from (an editable installation), if it is one."""
    root = Path(reference_part1.__file__).resolve().parents[2]
    return root if (root / "pyproject.toml").is_file() else None


def _copies_of_the_answers(root: Path) -> list[Path]:
    fingerprints = _reference_fingerprints()
    skipped = {os.path.realpath(p) for p in sandbox.python_installation()}
    found = []
    for folder, dirs, files in os.walk(root):
        dirs[:] = [d for d in dirs if os.path.realpath(os.path.join(folder, d)) not in skipped
                   and d not in (".git", ".tox", "__pycache__", "node_modules")]
        for name in files:
            path = Path(folder, name)
            if path.suffix not in (".py", ".txt", ".md", ".ipynb", ".json") or path.stat().st_size > 2**20:
                continue
            text = path.read_text(errors="replace")
            if any(line in text for line in fingerprints):
                found.append(path)
    return found


def test_the_secret_paths_cover_every_copy_of_the_answers_in_the_source_tree():
    """What ``fmlgrade isolation --secret-paths`` lists (and the user level closes to the worker's user) holds
    every file of the checkout with the reference's code in it, and its history."""
    root = _source_tree()
    if root is None:
        pytest.skip("fmlgrade is not installed from a checkout here")
    assert _reference_fingerprints(), "no comment of the reference to recognize copies by"
    secret = [p.resolve() for p in boundary.secret_paths()]
    copies = _copies_of_the_answers(root)
    assert copies, "the reference itself was not found: the search is broken"
    if (root / ".git").exists():
        copies.append(root / ".git")
    exposed = [str(p.relative_to(root)) for p in copies if not any(s == p or s in p.parents for s in secret)]
    assert not exposed, (
        f"copies of the answers outside boundary.secret_paths(), readable at isolation 'user': {exposed}"
    )


@needs_namespaces
def test_a_secret_folder_stays_hidden_whatever_folder_is_bound_read_only(scratch):
    """A read-only folder bound into the sandbox (a torch cache set to a parent folder, say) shows no secret."""
    roots = {str(root.folder.parent) for root in boundary.package_roots()}
    hidden = sorted({str(p.resolve()) for p in boundary.secret_paths()})
    seen = _in_sandbox(f"""
        import json, os
        def shown(p):
            if not os.path.lexists(p):
                return "absent"
            if os.path.isdir(p):
                return "empty folder" if not os.listdir(p) else "folder with " + ", ".join(sorted(os.listdir(p))[:3])
            return "empty file" if os.path.getsize(p) == 0 else "file with content"
        print(json.dumps({{p: shown(p) for p in {hidden!r}}}))
    """, scratch, read_only=tuple(sorted(roots)))
    # A mount point must exist, so a masked path may show as an empty folder or file, never with content.
    assert {p: s for p, s in seen.items() if s not in ("absent", "empty folder", "empty file")} == {}
