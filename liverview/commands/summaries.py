"""The one-line summary of every command, for `liverview --help`, which lists the commands without importing
them (their modules pull in numpy, scipy, pydicom, SimpleITK: about a second). The command's own parser
(``register``) must use the same words; tests/test_cli_parsers.py checks that they agree, so a command
whose summary changed, or a new one missing here, fails there. A module missing here still works: it is
imported to list it.
"""

from __future__ import annotations

# module under liverview.commands -> (command name, summary)
SUMMARIES: dict[str, tuple[str, str]] = {
    'synth_ct': ('synth-ct', 'write a synthetic multi-phase liver CT phantom (NIfTI + lesions.csv)'),
    'synth_inserted': ('synth-inserted', 'insert synthetic lesions into a real CT liver (detector training data)'),
    'info': ('info', 'load DICOM folders / volume files as a study and print its phases'),
    'register_phases': ('register-phases', 'register a moving phase to a fixed (reference) phase and resample it'),
    'plugins_list': ('plugins', 'list plugins and their contributions'),
    'export_annotations': ('export', "export a study's lesions (JSON, DeepLesion CSV, NIfTI labels, DICOM SR / SEG)"),
    'import_annotations': ('import', 'import lesions from DICOM SR / SEG, NIfTI label maps or DeepLesion CSV into a project'),
    'import_csv': ('import-csv', "import RECIST marks from a DeepLesion DL_info.csv-layout file into a study's project"),
    'train_detector': ('train-detector', 'train the multi-phase CT lesion detector on a folder of studies'),
    'mine_negatives': ('mine-negatives', "write a detector's confident false positives in training studies as hard negatives"),
    'detect': ('detect', 'detect liver lesions in a CT study and write proposals.json'),
    'scan': ('scan', 'detect lesions in every CT study of an archive (on Ray) into a project'),
    'eval_detect': ('eval-detect', 'FROC / AP / class accuracy of lesion proposals against ground truth'),
    'eval_keyslices': ('eval-keyslices', 'detector recall per false positive per image on DeepLesion key slices'),
    'synth_us': ('synth-us', 'write synthetic B-mode ultrasound images with lesion masks and classes'),
    'train_us': ('train-us', 'train the ultrasound click segmentation + classification model'),
    'us_segment': ('us-segment', 'segment + classify one ultrasound lesion from a box or clicks; prints JSON'),
    'eval_us': ('eval-us', 'evaluate the ultrasound click segmenter (Jaccard, accuracy, AUROC, sens/spec)'),
    'cv_us': ('cv-us', 'cross-validate the ultrasound click model over liver images (folds by image)'),
    'calibrate_us': ('calibrate-us', 'store the malignancy score chosen from a cv-us report in trained ultrasound weights'),
    'train_lpc': ('train-lpc', "train the lesion proposal classifier on a project's reviewed proposals"),
    'harvest_round': ('harvest-round', 'one lesion-harvesting round on a project (score, threshold, harvest, hard negatives)'),
    'export_us': ('export-us', 'export the lesions saved on an ultrasound image (JSON, NIfTI labels, label PNG)'),
    'decisions': ('decisions', 'list the review decisions of a project: who decided what on which proposal, when (CSV or JSON)'),
}
