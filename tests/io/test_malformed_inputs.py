"""Damaged inputs never mislead the reader: a slice that does not fit its series is left out and named,
a damaged volume file is refused with its reason, memory stays within the stated limit, and what native
readers print to stderr becomes a problem of the load. Every input comes from tests/malformed_corpus.py."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from liverview.io.dicom_series import load_dicom_folder
from liverview.io.errors import LoadError
from liverview.io.limits import ImageTooLargeError, max_image_bytes
from liverview.io.native_warnings import captured_native_output, tidy_native_lines
from liverview.io.nifti_file import DamagedFileError
from liverview.io.study_loader import load_study
from liverview.io.volumes import read_volume
from tests import malformed_corpus as corpus

REPO = Path(__file__).resolve().parents[2]


# --- a damaged slice inside a DICOM series ----------------------------------------------------------

@pytest.mark.parametrize("damage", sorted(corpus.SLICE_DAMAGE))
def test_a_damaged_slice_is_left_out_and_named_never_shown(tmp_path, damage):
    folder, bad = corpus.series_with_damaged_slice(tmp_path / damage, damage)
    report = load_dicom_folder(folder)
    assert len(report.series) == 1
    series = report.series[0]
    assert bad not in series.files and len(series.files) == 8
    # every slice shown is one of the good ones, with its own pixels, at its own height; the damaged one's
    # place is a marked gap (filled for computations, hatched in every view), never its damaged pixels
    volume = series.volume
    assert volume.array.shape[0] == 9 and volume.missing_slices == (4,)
    expected = [corpus.ct_pixels(k, 32, 32) for k in range(9) if k != 4]
    np.testing.assert_array_equal(np.delete(volume.array, 4, axis=0), np.stack(expected))
    assert series.slice_files[4] is None and bad not in series.slice_files
    assert series.warnings[0].startswith("1 slice(s) left out") and bad.name in series.warnings[0]
    assert any("1 slice(s) missing" in w for w in series.warnings)
    assert [p for p, _ in report.skipped] == [bad]
    loaded = load_study([folder])
    assert any(bad.name in line and "left out" in line for line in loaded.problems)


def test_a_truncated_slice_is_left_out_of_its_series(tmp_path):
    folder, bad = corpus.truncated_dicom_slice(tmp_path / "s")
    series = load_dicom_folder(folder).series[0]
    assert bad not in series.files and "truncated pixel data" in series.warnings[0]


def test_a_file_claiming_a_huge_image_is_left_out_before_decoding(tmp_path):
    folder, bad = corpus.dicom_claiming_huge_image(tmp_path / "s")
    report = load_dicom_folder(folder)
    assert bad not in report.series[0].files and len(report.series[0].files) == 9
    assert "8.59 GB" in report.series[0].warnings[0]


def test_the_whole_load_is_bounded_by_the_limit(tmp_path, monkeypatch):
    folder = tmp_path / "s"
    corpus.write_ct_series(folder)  # 9 slices of 32 x 32 x 2 bytes = 18 kB
    monkeypatch.setenv("LIVERVIEW_MAX_IMAGE_BYTES", "10000")
    with pytest.raises(ImageTooLargeError, match="LIVERVIEW_MAX_IMAGE_BYTES"):
        load_dicom_folder(folder)


@pytest.mark.parametrize("damage", ["bits_allocated_8", "bits_allocated_1", "rescale_slope_1e30"])
def test_the_audits_damaged_slices_in_the_real_75_slice_series(shared_data, tmp_path, damage):
    source = shared_data / "lits-volume0-dicom" / "ScalarVolume_0"
    folder, bad = corpus.series_with_damaged_slice(tmp_path / damage, damage, source=source)
    report = load_dicom_folder(folder)
    series = report.series[0]
    assert series.volume.array.shape == (75, 512, 512) and bad not in series.files
    assert len(series.volume.missing_slices) == 1  # its place kept, marked missing
    assert series.volume.array.dtype == np.int16 and series.volume.array.max() <= 1410
    loaded = load_study([folder])
    assert any(bad.name in line for line in loaded.problems)


# --- damaged volume files ------------------------------------------------------------------------

REFUSED = {
    "truncated.nii.gz": (corpus.truncated_nifti_gz, DamagedFileError, "truncated"),
    "truncated.nii": (corpus.truncated_nifti, DamagedFileError, "truncated"),
    "zero_spacing.nii": (corpus.zero_spacing_nifti, DamagedFileError, "spacing"),
    "nan_spacing.nii": (corpus.nan_spacing_nifti, DamagedFileError, "spacing"),
    "bad_magic.nii": (corpus.bad_magic_nifti, DamagedFileError, "magic"),
    "huge_header.nii": (corpus.huge_header_nifti, ImageTooLargeError, "54 TB"),
    "huge_header.nii.gz": (corpus.huge_header_nifti, ImageTooLargeError, "54 TB"),
    "huge_header.mha": (corpus.huge_header_mha, ImageTooLargeError, "54 TB"),
    "zero_spacing.mha": (corpus.zero_spacing_mha, LoadError, "spacing"),
}


@pytest.mark.parametrize("name", sorted(REFUSED))
def test_a_damaged_volume_file_is_refused_with_its_reason(tmp_path, name):
    write, error, word = REFUSED[name]
    path = write(tmp_path / name)
    with pytest.raises(error) as info:
        read_volume(path)
    assert str(info.value).startswith(str(path)) and word in str(info.value)
    with pytest.raises(LoadError):
        load_study([path])


def test_a_huge_claim_in_an_uncompressed_file_is_checked_against_the_file_size(tmp_path, monkeypatch):
    monkeypatch.setenv("LIVERVIEW_MAX_IMAGE_BYTES", "1e15")
    path = corpus.huge_header_nifti(tmp_path / "huge.nii", size=3000)
    with pytest.raises(DamagedFileError, match="truncated"):
        read_volume(path)


def test_a_sheared_grid_loads_with_a_visible_warning(tmp_path):
    path = corpus.sheared_nrrd(tmp_path / "sheared.nrrd")
    loaded = load_study([path])
    assert any("not perpendicular" in line for line in loaded.problems)


def test_itk_warnings_become_problems_not_stderr_lines(tmp_path, capfd):
    data = bytearray(corpus.nifti_bytes())
    data[280:296] = np.array([0.7, 0.5, 0.0, 10.0], "<f4").tobytes()  # a sheared sform row
    path = tmp_path / "sform.nii"
    path.write_bytes(bytes(data))
    problems: list[str] = []
    read_volume(path, problems)
    assert any("unexpected scales in sform" in p for p in problems)
    assert "WARNING" not in capfd.readouterr().err


def test_a_gzip_bomb_is_refused_from_its_header(tmp_path):
    path = corpus.gzip_bomb_nifti(tmp_path / "bomb.nii.gz", (2048, 2048, 2048), 1 << 20)
    assert path.stat().st_size < 20_000
    with pytest.raises(ImageTooLargeError, match="8.59 GB"):
        read_volume(path)


def test_a_stream_longer_than_its_header_is_read_only_as_far_as_claimed(tmp_path):
    path = corpus.gzip_bomb_nifti(tmp_path / "long.nii.gz", (16, 16, 16), 64 << 20)
    volume = read_volume(path)
    assert volume.array.shape == (16, 16, 16) and not volume.array.any()


def test_no_orientation_in_the_header_is_said(tmp_path):
    data = bytearray(corpus.nifti_bytes())
    data[252:256] = np.array([0, 0], "<i2").tobytes()
    path = tmp_path / "noform.nii"
    path.write_bytes(bytes(data))
    problems: list[str] = []
    read_volume(path, problems)
    assert any("no position or orientation" in p for p in problems)


def test_the_limit_is_read_from_the_environment(monkeypatch):
    monkeypatch.delenv("LIVERVIEW_MAX_IMAGE_BYTES", raising=False)
    assert max_image_bytes() == 2_000_000_000
    monkeypatch.setenv("LIVERVIEW_MAX_IMAGE_BYTES", "4e9")
    assert max_image_bytes() == 4_000_000_000
    monkeypatch.setenv("LIVERVIEW_MAX_IMAGE_BYTES", "lots")
    with pytest.raises(LoadError, match="not a number"):
        max_image_bytes()


def test_native_stderr_is_captured_and_tidied():
    messages: list[str] = []
    with captured_native_output(messages):
        os.write(2, b"WARNING: In /x/itkNiftiImageIO.cxx, line 7\nNiftiImageIO (0x55a3): f.nii is odd\n\n")
    assert messages == ["f.nii is odd"]
    assert tidy_native_lines("ERROR: In a.cxx, line 1\nplain line\nplain line\n") == ["plain line"]


# --- memory, measured in a child process ---------------------------------------------------------

def peak_rss_mb(args: list[str], env: dict[str, str]) -> tuple[float, int, str]:
    """Peak resident memory (MB) of `python -m liverview.cli ARGS`, its exit status and stderr."""
    proc = subprocess.Popen([sys.executable, "-m", "liverview.cli", *args], cwd=REPO, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    err = proc.stderr.read().decode()
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    return usage.ru_maxrss / 1024, proc.returncode, err


def test_opening_bombs_and_huge_headers_stays_within_the_limit(tmp_path):
    env = dict(os.environ, LIVERVIEW_MAX_IMAGE_BYTES="50e6", PYTHONPATH=str(REPO))
    good = corpus.write_good_nifti(tmp_path / "good.nii.gz")
    baseline, status, _ = peak_rss_mb(["info", str(good)], env)
    assert status == 0
    cases = [
        corpus.huge_header_nifti(tmp_path / "huge.nii.gz"),
        corpus.gzip_bomb_nifti(tmp_path / "bomb.nii.gz", (512, 512, 512), 1 << 20),  # claims 134 MB
        corpus.gzip_bomb_nifti(tmp_path / "long.nii.gz", (16, 16, 16), 200 << 20),  # 200 MB behind 4 kB
    ]
    for path in cases:
        peak, status, err = peak_rss_mb(["info", str(path)], env)
        assert peak < baseline + 60, (path.name, peak, baseline)  # the limit is 50 MB
        assert "Traceback" not in err
        assert status in (0, 3), err
