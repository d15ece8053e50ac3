"""`liverview harvest-round` over a project built by `liverview scan`, on local Ray (one Ray start for the
module): one study's files are deleted after the scan; the round completes, reports that study as failed with
its message, and on the other studies gives exactly what the single-process round (--in-process) gives on
them: the same classifier weights, sets, threshold, harvest list, hard negatives and written-back lesions."""

import json
import shutil
from contextlib import contextmanager
from pathlib import Path

import pytest
import torch

from liverview.cli import main as cli_main
from liverview.detection.proposals import Proposal3D
from liverview.detection.study_inputs import read_study_inputs
from liverview.harvest.project_data import latest_model, study_key
from liverview.harvest.round_progress import RoundProgress
from liverview.harvest.steps import simulated_decisions
from liverview.metrics.ground_truth import read_phantom_ground_truth
from liverview.review.proposal_import import proposal_record
from liverview.store.project import Project
from liverview.store.records import RecistRecord
from liverview.synth.ct_phantom import generate_ct_study
from tests.scan.conftest import TINY_MODEL, TINY_SHAPE, TINY_SPACING, tiny_detector_dir, write_tiny_phantom  # noqa: F401

pytestmark = pytest.mark.slow

SEEDS = {"s1": 11, "s2": 12, "s3": 13, "s4": 14, "gone": 15}
REVIEWED = ("s1", "s2")  # fully annotated (V_M): two, so the classifier is cross-fitted in 2 folds
LPC_FAST = ["--epochs", "2", "--crop-px", "16", "--pad-px", "8", "--device", "cpu"]


@pytest.fixture(scope="module")
def one_ray():
    """Ray started once for the module; the commands' own ray_session joins it instead of starting another."""
    from liverview.scan import cluster

    with cluster.ray_session(None, 2) as resources:
        @contextmanager
        def running(address, workers):
            yield dict(resources)

        with pytest.MonkeyPatch.context() as mp:
            mp.setattr(cluster, "ray_session", running)
            yield


@pytest.fixture(scope="module")
def scanned(tiny_detector_dir, tmp_path_factory, one_ray):  # noqa: F811
    """5 tiny phantoms scanned; a reader's work added (decisions on V_M, half the lesions marked elsewhere,
    and proposals on the true boxes beside the tiny detector's, so the classifier has lesions to learn);
    then the files of 'gone' deleted."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    root = tmp_path_factory.mktemp("harvest-ray")
    archive = root / "archive"
    for name, seed in SEEDS.items():
        write_tiny_phantom(archive / name, seed)
    project = root / "scanned.lvproj"
    assert cli_main(["scan", str(archive), "--project", str(project), "--workers", "2", "--device", "cpu",
                     "--model", TINY_MODEL, "--liver-margin", "60", "--plugin-dir", str(tiny_detector_dir)]) == 0
    keys = {}
    with Project.open(project, "reader") as proj:
        model = latest_model(proj)
        for st in proj.list_studies():
            name = st.description
            keys[name] = study_key(st)
            folder = archive / name
            inputs = read_study_inputs(folder)
            truth = read_phantom_ground_truth(folder, name)
            extra = [Proposal3D(g.box_3d[:4], g.box_3d[4:], 0.9 - 0.1 * n, g.key_slice, {g.lesion_class: 1.0})
                     for n, g in enumerate(truth)]
            proj.add_proposals(st.id, [proposal_record(p, inputs.volumes[inputs.reference], model) for p in extra])
            records = [r for r in proj.list_proposals(st.id) if r.source_model == model]
            if name in REVIEWED:
                boxes = [Proposal3D((r.box.min_ijk[0], r.box.min_ijk[1], r.box.max_ijk[0] + 1, r.box.max_ijk[1] + 1),
                                    (r.box.min_ijk[2], r.box.max_ijk[2]), r.score, r.key_slice or 0)
                         for r in records]
                for i, accepted in simulated_decisions(boxes, truth).items():
                    proj.decide(records[i].id, "accepted" if accepted else "rejected", "reader")
            else:
                lesion = generate_ct_study(SEEDS[name], n_lesions=2, shape=TINY_SHAPE,
                                           spacing_mm=TINY_SPACING).lesions[0]
                proj.add_lesion(st.id, lesion.lesion_class, recist=RecistRecord(
                    lesion.long_axis_mm, lesion.short_axis_mm, lesion.key_slice, "non-contrast"))
    shutil.rmtree(archive / "gone")  # moved or deleted since the scan
    yield project, keys, archive
    torch.set_num_threads(threads)


@pytest.fixture
def one_torch_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def _draft_lesions(project: Path) -> dict:
    with Project.open(project, "checker", read_only=True) as proj:
        return {st.description: sorted((les.lesion_class, les.notes, tuple(les.box("3d").min_mm),
                                        tuple(les.box("3d").max_mm)) for les in proj.list_lesions(st.id)
                                       if les.notes.startswith("harvested in round"))
                for st in proj.list_studies()}


@pytest.fixture
def lpc_inputs(monkeypatch):
    """What the classifier was trained on in this process, per weights folder: (crops, labels, torch threads)."""
    import numpy as np

    from liverview_plugins.lesion_proposal_classifier import trainer

    seen = {}
    real = trainer.train_lpc

    def recording(crops, labels, config, out_dir, *args, **kwargs):
        seen[str(out_dir)] = (np.array(crops, copy=True), np.array(labels, copy=True), torch.get_num_threads())
        return real(crops, labels, config, out_dir, *args, **kwargs)

    monkeypatch.setattr(trainer, "train_lpc", recording)
    # which study and proposal each training sample is, on each path (in-process: the examples; Ray: the plans)
    real_train = trainer.LpcTrainer.train

    def train(self, examples, out_dir, *args, **kwargs):
        seen[f"samples:{out_dir}"] = [(e.name, tuple(p.box), tuple(p.z_range))
                                      for e in examples if len(e.proposals) for p in e.proposals]
        return real_train(self, examples, out_dir, *args, **kwargs)

    monkeypatch.setattr(trainer.LpcTrainer, "train", train)
    from liverview.harvest import ray_round

    real_material = ray_round._train_on_material

    def material(plans, results, *args, **kwargs):
        seen["samples_ray_by_study"] = {p.volume: [(p.volume, tuple(p.proposals[i].box), tuple(p.proposals[i].z_range))
                                                   for i, _ in results[p.volume].labelled] for p in plans}
        return real_material(plans, results, *args, **kwargs)

    monkeypatch.setattr(ray_round, "_train_on_material", material)
    return seen


def _inputs_differ(seen: dict, ray_dir: Path, alone_dir: Path) -> str:
    """Where the two trainings' inputs part, for the failure message."""
    import numpy as np

    a, b = seen.get(str(ray_dir)), seen.get(str(alone_dir))
    if a is None or b is None:
        return f"inputs not recorded ({sorted(seen)})"
    crops_a, labels_a, threads_a = a
    crops_b, labels_b, threads_b = b
    lines = [f"torch threads {threads_a} / {threads_b}", f"labels equal {np.array_equal(labels_a, labels_b)}",
             f"crops {crops_a.shape} / {crops_b.shape}"]
    if crops_a.shape == crops_b.shape:
        diff = np.abs(crops_a - crops_b)
        bad = np.argwhere(diff > 0)
        samples = sorted({int(i) for i in bad[:, 0]})
        lines.append(f"crops differ at {len(bad)} values, max {diff.max():.3g}, in samples {samples} "
                     f"(by view: {[int((diff[samples][:, v] > 0).sum()) for v in range(diff.shape[1])]}); "
                     f"first (sample, view, phase, y, x) {bad[:3].tolist()}")
        alone = seen.get(f"samples:{alone_dir}", [])
        ray_by_study = seen.get("samples_ray_by_study", {})
        for i in samples[:2]:
            here = alone[i] if i < len(alone) else None
            there = [x for rows in ray_by_study.values() for x in rows if here and x[0] == here[0]]
            lines.append(f"sample {i}: in-process {here}; that study's Ray samples {there}")
    return "; ".join(lines)


def test_round_on_ray_reports_the_lost_study_and_equals_the_single_process_round(scanned, tmp_path, capsys,
                                                                                   one_torch_thread, lpc_inputs):
    project, keys, archive = scanned
    # one torch thread: multi-threaded CPU convolutions sum in varying order, and the two rounds must match
    # to 1e-6 (the classifier trains in this process both times)

    on_ray, alone = tmp_path / "ray.lvproj", tmp_path / "alone.lvproj"
    shutil.copy(project, on_ray)
    shutil.copy(project, alone)
    fully = ",".join(keys[n] for n in REVIEWED)
    common = ["harvest-round", "--fully-annotated", fully, "--write-back", *LPC_FAST]

    assert cli_main([*common, "--project", str(on_ray), "--out", str(tmp_path / "ray"), "--workers", "2"]) == 1
    out = capsys.readouterr().out
    doc = json.loads((tmp_path / "ray" / "report.json").read_text())
    assert doc["studies"] == 4 and len(doc["studies_failed"]) == 1
    failed = doc["studies_failed"][0]
    assert failed["study"] == keys["gone"] and failed["while"] == "reading studies"
    assert str(archive / "gone") in failed["message"]  # the missing file, in the error's own words
    assert "studies used: 4; failed and left out of this round: 1" in out and keys["gone"] in out
    assert doc["ray"]["tasks"].startswith("2 at a time") and len(doc["ray"]["pass_seconds"]) == 2

    others = ",".join(keys[n] for n in SEEDS if n != "gone")
    assert cli_main([*common, "--project", str(alone), "--out", str(tmp_path / "alone"), "--in-process",
                     "--studies", others]) == 0
    ref = json.loads((tmp_path / "alone" / "report.json").read_text())
    assert ref["studies_failed"] == [] and ref["ray"] is None
    assert ref["sets"]["P_H_R"] > 0 and ref["sets"]["P_M_R"] > 0 and ref["sets"]["P_M_neg"] > 0  # it has content
    for key in ("studies", "fully_annotated", "sets", "harvested", "hard_negatives", "model"):
        assert doc[key] == ref[key], key
    assert {**doc["classifier"], "weights": ""} == {**ref["classifier"], "weights": ""}  # trained on the same
    # the same crops in the same order: the same classifier, weight for weight (checked before the threshold, so
    # that a mismatch says whether training or scoring differed: the threshold once differed by 2.6e-4 in a full run)
    for fold in ("fold0", "fold1"):
        ray_dir, alone_dir = tmp_path / "ray" / "lpc" / fold, tmp_path / "alone" / "lpc" / fold
        assert {str(ray_dir), str(alone_dir)} <= set(lpc_inputs)  # both trainings ran here and were recorded
        crops_ray, crops_alone = lpc_inputs[str(ray_dir)][0], lpc_inputs[str(alone_dir)][0]
        assert crops_ray.shape == crops_alone.shape and (crops_ray == crops_alone).all(), \
            _inputs_differ(lpc_inputs, ray_dir, alone_dir)  # cut in Ray tasks vs in this process
        got = torch.load(tmp_path / "ray" / "lpc" / fold / "lpc.pt", weights_only=True)["model"]
        want = torch.load(tmp_path / "alone" / "lpc" / fold / "lpc.pt", weights_only=True)["model"]
        assert got.keys() == want.keys()
        differ = [k for k in got if not torch.equal(got[k], want[k])]
        # on a mismatch, say how far apart and whether the losses logged during training already differed
        # (inputs) or not (arithmetic). It failed now and then until 2026-12-01: --studies kept the order given,
        # the Ray round took the store's (the scan's finishing order), so the crops came in another order
        logs = [json.loads((tmp_path / run / "lpc" / fold / "lpc_train_log.json").read_text())["history"]
                for run in ("ray", "alone")]
        assert differ == [], (fold, max(float((got[k] - want[k]).abs().max()) for k in differ), logs,
                              _inputs_differ(lpc_inputs, tmp_path / "ray" / "lpc" / fold,
                                             tmp_path / "alone" / "lpc" / fold))
    assert doc["threshold"] == pytest.approx(ref["threshold"], abs=1e-6)
    # the same proposals harvested and picked as hard negatives, with the same scores
    harvest_ray = json.loads((tmp_path / "ray" / "harvest.json").read_text())
    harvest_alone = json.loads((tmp_path / "alone" / "harvest.json").read_text())
    assert harvest_ray.keys() == harvest_alone.keys() and keys["gone"] not in harvest_ray
    for volume, lists in harvest_alone.items():
        for kind in ("harvested", "hard_negatives"):
            got, want = harvest_ray[volume][kind], lists[kind]
            assert [g["proposal_id"] for g in got] == [w["proposal_id"] for w in want]
            assert [g["s"] for g in got] == pytest.approx([w["s"] for w in want], abs=1e-6)
    # written back from geometry alone (the Ray round holds no voxels): the same draft lesions in mm
    written = _draft_lesions(on_ray)
    assert written == _draft_lesions(alone) and sum(map(len, written.values())) == doc["harvested"] > 0


def test_a_trainer_that_cannot_prepare_is_refused_before_any_task(tmp_path):
    from liverview.harvest.ray_round import HarvestSetupError, run_round_on_ray

    class WholeVolumeTrainer:
        def train(self, examples, out_dir, options, device="auto", log=None):
            raise AssertionError("never called")

    class Contribution:
        name, where = "whole-volume", "plugin 'whole-volume'"

        def create_trainer(self):
            return WholeVolumeTrainer()

    with pytest.raises(HarvestSetupError, match="trained weights with --lpc, or run with --in-process"):
        run_round_on_ray([], "m", Contribution(), {}, None, 2, tmp_path, None, "cpu")  # type: ignore[arg-type]


def test_progress_line_counts_studies_rate_and_eta():
    import io

    now = [0.0]
    p = RoundProgress("reading studies", 4, stream=io.StringIO(), clock=lambda: now[0])
    now[0] = 30.0
    p.finished(True)
    p.finished(False)
    assert p.line() == ("harvest-round reading studies: 2/4 studies, 1 failed, 4.0 studies/min, ETA 30 s")
