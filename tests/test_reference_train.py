"""``fmlgrade reference-train``: what it records, what it writes, how it refuses bad input."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("torchvision")

from fmlgrade.harness import reference_train as rt  # noqa: E402
from fmlgrade.harness.cli import main  # noqa: E402

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
TINY = ["--n-train", "6", "--image-size", "32", "--batch-size", "4", "--device", "cpu"]


@pytest.fixture(scope="module", autouse=True)
def one_torch_thread():
    """Tiny tensors on shared cores: OpenMP threads fighting over them cost 10x in wall time."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory, one_torch_thread):
    """One two-epoch run on 6 synthetic images per class (VGG at 32 px), in a private cache."""
    cache = tmp_path_factory.mktemp("cache")
    out = tmp_path_factory.mktemp("run") / "out"
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("XDG_CACHE_HOME", str(cache))
        code = main(["reference-train", *TINY, "--epochs", "2", "--out", str(out)])
    return code, out, cache


@pytest.mark.slow
def test_tiny_run_records_every_epoch_of_both_models(tiny_run):
    code, out, cache = tiny_run
    assert code == 0
    record = json.loads((out / "reference-train.json").read_text())
    assert record["device"] == "cpu"
    assert record["seed"] == 0
    assert record["torch_version"] == torch.__version__
    assert record["fmlgrade_version"]
    assert record["image_sizes"] == {"SimpLeNet": 224, "AdaptedVGG": 32}
    assert record["dataset"]["synthetic"] is True
    assert Path(record["dataset"]["root"]).is_relative_to(cache / "fmlgrade")
    assert set(record["models"]) == {"SimpLeNet", "AdaptedVGG"}
    for name, model in record["models"].items():
        assert model["epochs_run"] == 2, name  # threshold 3 cannot stop two epochs
        for key in ("train_loss", "val_loss", "val_accuracy", "epoch_seconds"):
            assert len(model[key]) == model["epochs_run"], (name, key)
        assert all(math.isfinite(v) and v > 0 for v in model["train_loss"] + model["val_loss"])
        assert all(0.0 <= a <= 1.0 for a in model["val_accuracy"] + [model["test_accuracy"]])
        assert all(s > 0 for s in model["epoch_seconds"])
        assert model["images"] == {"train": 10, "val": 2, "test": 4}
    vgg = record["models"]["AdaptedVGG"]
    assert vgg["checkpoints_written"] == ["model-0.pt", "model-1.pt"]
    assert vgg["stopped_early"] is False and vgg["weights"] is None


@pytest.mark.slow
def test_tiny_run_writes_a_png_and_leaves_no_checkpoints_or_temporaries(tiny_run):
    _, out, cache = tiny_run
    assert (out / "learning-curves.png").read_bytes()[:8] == PNG_MAGIC
    assert sorted(p.name for p in out.iterdir()) == ["learning-curves.png", "reference-train.json"]
    assert [p.name for p in (cache / "fmlgrade").iterdir()] == ["casting-train6-test2-size300-seed0"]


def _tiny_loaders(tmp_path: Path, image_size: int):
    from fmlgrade.fixtures.casting import generate_casting_dataset
    from fmlgrade.spec.worker.data import make_loaders

    root = generate_casting_dataset(tmp_path / "data", n_train=4, n_test=1, size=64)
    return make_loaders(root, image_size=image_size, batch_size=3, seed=1)


@pytest.mark.slow
def test_observing_changes_nothing_the_reference_loop_computes(tmp_path):
    from fmlgrade.solutions.reference.part2 import SimpLeNet, train
    from fmlgrade.solutions.reference.part3 import evaluate_accuracy

    histories = []
    for observe in (False, True):
        train_loader, val_loader, _ = _tiny_loaders(tmp_path / str(observe), 224)
        torch.manual_seed(0)
        model = SimpLeNet()
        recorder = rt.EpochRecorder(model, val_loader, "cpu", evaluate_accuracy)
        loaders = recorder.observe(train_loader, val_loader) if observe else (
            train_loader, val_loader
        )
        histories.append(train(model, *loaders, 3, 1e-2, "cpu"))
    assert histories[0] == histories[1]
    assert len(recorder.val_accuracy) == len(recorder.epoch_seconds) == 3
    assert recorder.val_accuracy[-1] == evaluate_accuracy(model, val_loader, "cpu")


def test_the_accuracy_pass_restores_the_models_mode(tmp_path):
    from fmlgrade.solutions.reference.part3 import evaluate_accuracy

    class Constant(torch.nn.Module):
        def forward(self, x):
            return torch.full((x.shape[0], 1), 0.7)

    model = Constant()
    val = [(torch.zeros(2, 3, 4, 4), torch.tensor([[1.0], [0.0]]))]
    recorder = rt.EpochRecorder(model, val, "cpu", evaluate_accuracy)
    for mode in (True, False):
        model.train(mode)
        recorder.start_epoch()
        recorder.end_validation()
        assert model.training is mode
    assert recorder.val_accuracy == [0.5, 0.5]


def test_observed_loader_passes_batches_through_and_reports_consumption():
    events = []
    loader = rt.ObservedLoader(
        torch.utils.data.DataLoader(list(range(5)), batch_size=2),
        on_start=lambda: events.append("start"),
        on_batch=lambda: events.append("batch"),
        on_end=lambda: events.append("end"),
    )
    assert len(loader) == 3 and len(loader.dataset) == 5
    batches = []
    for batch in loader:
        batches.append(batch.tolist())
        events.append("used")
    assert batches == [[0, 1], [2, 3], [4]]
    assert events == ["start", "used", "batch", "used", "batch", "used", "batch", "end"]


def test_synthetic_set_is_generated_once_and_never_left_half_written(tmp_path, monkeypatch):
    import fmlgrade.fixtures.casting as casting

    real = casting.generate_casting_dataset

    def broken(root, **kwargs):
        real(root, **kwargs)
        raise KeyboardInterrupt

    monkeypatch.setattr(casting, "generate_casting_dataset", broken)
    with pytest.raises(KeyboardInterrupt):
        rt.synthetic_dataset(3, 1, 1, cache=tmp_path)
    assert list(tmp_path.iterdir()) == []

    monkeypatch.setattr(casting, "generate_casting_dataset", real)
    root = rt.synthetic_dataset(3, 1, 1, cache=tmp_path)
    assert root == tmp_path / "casting-train1-test1-size300-seed3" / "casting_data"
    assert len(list(root.rglob("*.jpeg"))) == 4

    monkeypatch.setattr(casting, "generate_casting_dataset", broken)  # a reuse never regenerates
    assert rt.synthetic_dataset(3, 1, 1, cache=tmp_path) == root
    assert [p.name for p in tmp_path.iterdir()] == ["casting-train1-test1-size300-seed3"]


def _one_line_error(capsys, argv, out: Path) -> str:
    code = main(["reference-train", *argv, "--out", str(out)])
    captured = capsys.readouterr()
    assert code == 2
    assert captured.err.count("\n") == 1, captured.err
    assert captured.err.startswith("fmlgrade: error: ")
    assert "Traceback" not in captured.out + captured.err
    assert not out.exists()
    return captured.err


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["--epochs", "0"], "--epochs=0 must be at least 1"),
        (["--image-size", "16"], "--image-size=16 must be at least 32"),
        (["--batch-size", "0"], "--batch-size=0 must be at least 1"),
        (["--n-train", "0"], "--n-train=0 must be at least 1"),
        (["--threshold", "0"], "--threshold=0 must be at least 1"),
        (["--learn-rate", "-1"], "--learn-rate=-1.0 must be a positive number"),
        (["--data", ".", "--n-train", "5"], "it cannot be used with --data"),
    ],
)
def test_bad_arguments_name_the_argument(capsys, tmp_path, argv, expected):
    assert expected in _one_line_error(capsys, argv, tmp_path / "out")


def test_a_folder_without_the_dataset_is_a_one_line_error(capsys, tmp_path):
    (tmp_path / "unpacked" / "train").mkdir(parents=True)
    err = _one_line_error(capsys, ["--data", str(tmp_path / "unpacked")], tmp_path / "out")
    assert "no casting dataset found at" in err and "lacks train/def_front" in err


@pytest.mark.skipif(torch.cuda.is_available(), reason="a GPU is present")
def test_cuda_without_a_gpu_is_a_one_line_error(capsys, tmp_path):
    err = _one_line_error(capsys, ["--device", "cuda"], tmp_path / "out")
    assert "no CUDA device is available; use --device cpu" in err


def test_pretrained_without_cached_weights_says_where_to_put_them(capsys, tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch-home"))
    err = _one_line_error(capsys, ["--pretrained", "--device", "cpu"], tmp_path / "out")
    expected = tmp_path / "torch-home" / "hub" / "checkpoints" / "vgg11-8a719046.pth"
    assert str(expected) in err and "--pretrained" in err


def test_an_out_that_is_a_file_is_a_one_line_error(capsys, tmp_path):
    taken = tmp_path / "taken"
    taken.write_text("")
    assert main(["reference-train", "--out", str(taken), "--device", "cpu"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "is a file, not a folder" in err
