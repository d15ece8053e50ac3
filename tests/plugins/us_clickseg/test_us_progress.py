"""train-us, eval-us and cv-us report progress: a line ending at 100 % when asked for (LIVERVIEW_PROGRESS=always
stands in for a terminal), none in a pipe, and their log and summary lines on stdout either way."""

from __future__ import annotations

import csv
import re

import pytest

from liverview.cli import main
from liverview.synth.us_phantom import write_us_dataset

TINY = ["--input-size", "32", "--widths", "4", "8", "16", "--batch-size", "2", "--threads", "1"]
BAR = re.compile(r"\r(\S+): \[[#-]+\]\s+(\d+) %")


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    root = tmp_path_factory.mktemp("us_progress")
    write_us_dataset(root / "data", seed=2, count=4)
    return root / "data"


def _bars(stderr: str, label: str) -> list[int]:
    return [int(pct) for name, pct in BAR.findall(stderr) if name == label]


def test_train_us_draws_its_steps_and_keeps_its_log_on_stdout(data, tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("LIVERVIEW_PROGRESS", "always")
    assert main(["train-us", "--data", str(data), "--out", str(tmp_path / "run"), "--steps", "3", *TINY]) == 0
    captured = capsys.readouterr()
    assert _bars(captured.err, "train-us")[-1] == 100 and captured.err.endswith("\n")
    assert "done: 3 steps" in captured.out and "\r" not in captured.out


def test_in_a_pipe_train_us_and_eval_us_draw_nothing(data, tmp_path, capsys, monkeypatch):
    monkeypatch.delenv("LIVERVIEW_PROGRESS", raising=False)  # capsys' stderr is no terminal
    assert main(["train-us", "--data", str(data), "--out", str(tmp_path / "run"), "--steps", "2", *TINY]) == 0
    assert main(["eval-us", "--data", str(data), "--mode", "one-click", "--weights",
                 str(tmp_path / "run" / "us_clickseg.pt"), "--device", "cpu"]) == 0
    captured = capsys.readouterr()
    assert "\r" not in captured.err and "Jaccard mean" in captured.out


def test_eval_us_counts_lesions_to_100_percent(data, tmp_path, capsys, monkeypatch):
    assert main(["train-us", "--data", str(data), "--out", str(tmp_path / "run"), "--steps", "2", *TINY]) == 0
    capsys.readouterr()
    monkeypatch.setenv("LIVERVIEW_PROGRESS", "always")
    assert main(["eval-us", "--data", str(data), "--mode", "two-click", "--weights",
                 str(tmp_path / "run" / "us_clickseg.pt"), "--device", "cpu"]) == 0
    captured = capsys.readouterr()
    assert _bars(captured.err, "eval-us")[-1] == 100 and "Jaccard mean" in captured.out


def test_cv_us_moves_through_its_folds_to_100_percent(data, tmp_path, capsys, monkeypatch):
    liver = tmp_path / "liver"
    liver.mkdir()
    with open(data / "labels.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    with open(liver / "manifest.csv", "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["image", "mask", "label"])
        for r in rows:
            label = "malignant" if r["class"] in ("metastasis", "hcc") else "benign"
            w.writerow([str(data / r["image"]), str(data / r["mask"]), label])
    monkeypatch.setenv("LIVERVIEW_PROGRESS", "always")
    assert main(["cv-us", "--liver", str(liver), "--folds", "2", "--out", str(tmp_path / "cv"), "--device", "cpu",
                 "--threads", "1", "--set", "steps=2", "--set", "batch_size=2", "--set", "input_size=32",
                 "--set", "widths=[4, 8]"]) == 0
    captured = capsys.readouterr()
    shown = _bars(captured.err, "cv-us")
    assert shown[-1] == 100 and any(0 < pct < 100 for pct in shown)
    assert "fold 1: one-click" in captured.err
    assert "fold 0: two-click" in captured.out  # the fold summaries stay on stdout
