"""Files written whole or not at all."""

from __future__ import annotations

import pytest

from liverview.io.replace_on_success import partial_path, replaced_on_success


def test_the_files_replace_their_targets_only_when_the_block_succeeds(tmp_path):
    a, b = tmp_path / "x.nii.gz", tmp_path / "x.labels.json"
    a.write_text("old image")
    with replaced_on_success(a, b) as (pa, pb):
        assert pa.name == ".partial-x.nii.gz" and pa.parent == tmp_path  # same folder, same extension
        pa.write_text("new image")
        pb.write_text("new labels")
        assert a.read_text() == "old image" and not b.exists()  # nothing replaced while writing
    assert a.read_text() == "new image" and b.read_text() == "new labels"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["x.labels.json", "x.nii.gz"]


def test_a_failure_keeps_the_previous_files_and_leaves_no_partial_file(tmp_path):
    a, b = tmp_path / "x.csv", tmp_path / "y.json"
    a.write_text("good export")
    with pytest.raises(OSError, match="disk full"):
        with replaced_on_success(a, b) as (pa, pb):
            pa.write_text("half of")
            raise OSError("disk full")
    assert a.read_text() == "good export" and not b.exists()
    assert not partial_path(a).exists() and sorted(p.name for p in tmp_path.iterdir()) == ["x.csv"]


def test_a_file_the_writer_never_wrote_is_an_error_not_an_empty_export(tmp_path):
    a = tmp_path / "x.png"
    a.write_text("previous")
    with pytest.raises(OSError, match="nothing was written"):
        with replaced_on_success(a):
            pass
    assert a.read_text() == "previous"
