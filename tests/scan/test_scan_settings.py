"""What each study's task asks Ray for (CPU, GPUs on CUDA) and the progress line: no Ray needed."""

import io

import pytest

from liverview.scan.cluster import ScanSetupError, task_resources
from liverview.scan.progress import ScanProgress, format_duration


def test_cpu_only_clusters_run_one_task_per_cpu_and_workers_caps_it():
    r = task_resources("auto", 1.0, None, {"CPU": 8.0})
    assert (r.num_cpus, r.num_gpus, r.device, r.slots) == (1.0, 0.0, "cpu", 8)
    assert task_resources("cpu", 1.0, 3, {"CPU": 8.0, "GPU": 2.0}).slots == 3
    assert task_resources("cpu", 1.0, None, {"CPU": 8.0, "GPU": 2.0}).num_gpus == 0.0


def test_gpu_tasks_request_gpus_through_ray_and_are_limited_by_them():
    r = task_resources("auto", 1.0, None, {"CPU": 16.0, "GPU": 2.0})
    assert (r.num_gpus, r.device, r.slots) == (1.0, "cuda", 2)
    shared = task_resources("cuda", 0.5, None, {"CPU": 16.0, "GPU": 2.0})
    assert (shared.num_gpus, shared.slots) == (0.5, 4)
    assert task_resources("cuda", 0.25, None, {"CPU": 2.0, "GPU": 1.0}).slots == 2  # CPUs limit too
    assert "0.5 GPU on cuda" in shared.describe()


@pytest.mark.parametrize("device, gpus_per_task, workers, cluster, message", [
    ("cuda", 1.0, None, {"CPU": 4.0}, "has no GPU"),
    ("auto", 0.0, None, {"CPU": 4.0}, "positive number"),
    ("auto", 2.0, None, {"CPU": 4.0, "GPU": 1.0}, "more than the cluster's 1 GPUs"),
    ("tpu", 1.0, None, {"CPU": 4.0}, "unknown device 'tpu'"),
    ("auto", 1.0, 0, {"CPU": 4.0}, "at least 1"),
    ("auto", 1.0, None, {"CPU": 0.0}, "needs one"),
])
def test_impossible_requests_are_clear_errors(device, gpus_per_task, workers, cluster, message):
    with pytest.raises(ScanSetupError, match=message):
        task_resources(device, gpus_per_task, workers, cluster)


def test_progress_shows_count_rate_and_eta_on_a_terminal_only():
    now = [0.0]
    out = io.StringIO()
    progress = ScanProgress(10, out, interactive=True, clock=lambda: now[0], every_s=0)
    now[0] = 60.0
    progress.finished(4)
    progress.finished(3)
    progress.gave_up()
    assert progress.line() == "scan: 3/10 studies, 1 failed, 7 proposals, 3.0 studies/min, ETA 2 min 20 s"
    progress.note("s3: attempt 1 failed")
    progress.close()
    text = out.getvalue()
    assert "\rscan: 1/10" in text and "s3: attempt 1 failed" in text and text.endswith("\n")
    quiet = io.StringIO()
    progress = ScanProgress(2, quiet, interactive=False)
    progress.finished(1)
    progress.note("x")
    progress.close()
    assert quiet.getvalue() == ""


def test_durations_read_naturally():
    assert [format_duration(s) for s in (4.4, 65, 7260)] == ["4 s", "1 min 05 s", "2 h 01 min"]
