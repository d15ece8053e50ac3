"""The demo study: one fixed phantom, generated once into a cache folder and reused afterwards.

Generation writes into a temporary sibling folder that is renamed into place only when complete, so a
killed run never leaves a half study behind where the next run would take it for finished.
"""

from __future__ import annotations

import json
import shutil
import tempfile
import time
from pathlib import Path

from liverview.cache_root import default_cache_root
from liverview.synth.ct_phantom import (
    LESION_TABLE_FILE, LIVER_MASK_FILE, PHANTOM_VERSION, PHASE_FILES, STUDY_FILE, generate_ct_study,
    write_phantom_study,
)

DEMO_SEED = 7
DEMO_LESIONS = 6
DEMO_DIR_NAME = f"demo-v{PHANTOM_VERSION}"
_STALE_TEMP_S = 3600.0  # a temporary folder this old belongs to a run that died


def is_complete_study(folder: Path) -> bool:
    """True when folder holds every file of a phantom of the current version (study.json is written last)."""
    try:
        meta = json.loads((folder / STUDY_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    names = [*PHASE_FILES.values(), LIVER_MASK_FILE, LESION_TABLE_FILE]
    return meta.get("version") == PHANTOM_VERSION and all((folder / n).is_file() for n in names)


def demo_study_dir(cache_root: Path | None = None) -> Path:
    """The folder of the demo study (seed 7, six lesions of all four classes), generating it on first use."""
    root = Path(cache_root) if cache_root is not None else default_cache_root()
    final = root / DEMO_DIR_NAME
    if is_complete_study(final):
        return final
    root.mkdir(parents=True, exist_ok=True)
    _remove_stale_temps(root)
    tmp = Path(tempfile.mkdtemp(prefix=f".{DEMO_DIR_NAME}.tmp-", dir=root))
    tmp.chmod(0o755)  # mkdtemp makes it private; the study is not a secret
    try:
        write_phantom_study(generate_ct_study(DEMO_SEED, n_lesions=DEMO_LESIONS), tmp)
        if final.exists() and not is_complete_study(final):
            # Ours appear whole, so this is a damaged copy (files deleted by hand): replace it.
            shutil.rmtree(final)
        try:
            tmp.rename(final)
        except OSError:
            if not is_complete_study(final):  # not a concurrent run that finished first
                raise
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    return final


def _remove_stale_temps(root: Path) -> None:
    now = time.time()
    for path in root.glob(f".{DEMO_DIR_NAME}.tmp-*"):
        try:
            if now - path.stat().st_mtime > _STALE_TEMP_S:
                shutil.rmtree(path, ignore_errors=True)
        except OSError:
            pass
