"""A reading session run as its own process for the crash test: it makes a deterministic mix of edits
(add lesion, set RECIST, change class) in a loop and prints each one as a JSON line only after the
edit's method returned, i.e. after its transaction committed: a printed line is an edit "shown to the
user". The parent kills it with SIGKILL mid-stream.

Run: python tests/store/edit_session_child.py PROJECT_PATH
"""

from __future__ import annotations

import json
import sys
import time
from typing import Any

CLASSES = ("cyst", "hemangioma", "hcc", "metastasis", "unknown")
MAX_EDITS = 20000  # the parent kills the session long before; this only stops an orphan
MAX_SECONDS = 60.0


def planned_edit(n: int, lesion_ids: list[int]) -> dict[str, Any]:
    """Edit number ``n`` of the session, given the lesions added so far (a pure function, so the parent
    can tell what the edit after the last printed one would have been)."""
    if n % 3 == 0 or not lesion_ids:
        return {"op": "add", "class": CLASSES[(n // 3) % 5], "notes": f"lesion of edit {n}"}
    if n % 3 == 1:
        a = n * 0.37
        return {"op": "recist", "lesion": lesion_ids[-1], "phase": "portal venous", "key_slice": n % 97,
                "long": [[a, -12.5, 100.0 - a], [a + 10.0 + n % 7, -3.25, 100.0 - a]],
                "short": None if n % 4 == 0 else [[a + 5.0, -15.0, 100.0 - a], [a + 5.5, 0.5, 100.0 - a]]}
    return {"op": "class", "lesion": lesion_ids[(n * 7919) % len(lesion_ids)], "class": CLASSES[(n + 1) % 5]}


def apply(state: dict[int, dict[str, Any]], edit: dict[str, Any], new_id: int | None = None) -> bool:
    """Apply an edit to the session's expected state {lesion id: {class, notes, recist}}; returns whether
    it changed anything (setting a lesion's class to the one it has is no edit)."""
    if edit["op"] == "add":
        state[new_id if new_id is not None else edit["lesion"]] = {
            "class": edit["class"], "notes": edit["notes"], "recist": None}
        return True
    lesion = state[edit["lesion"]]
    key, value = ("recist", (edit["phase"], edit["key_slice"], edit["long"], edit["short"])) \
        if edit["op"] == "recist" else ("class", edit["class"])
    changed = lesion[key] != value
    lesion[key] = value
    return changed


def main(path: str) -> None:
    from liverview.store import Project, RecistRecord

    project = Project.create(path, "session")
    study = project.add_study("1.2.3.4", "crash test")
    project.add_phase(study, "portal venous", "/data/pv")
    lesion_ids: list[int] = []
    start = time.monotonic()
    for n in range(MAX_EDITS):
        if time.monotonic() - start > MAX_SECONDS:
            break
        edit = planned_edit(n, lesion_ids)
        if edit["op"] == "add":
            lesion = project.add_lesion(study, edit["class"], edit["notes"])
            lesion_ids.append(lesion.id)
            edit["lesion"] = lesion.id
        elif edit["op"] == "recist":
            long_axis = tuple(tuple(p) for p in edit["long"])
            short_axis = None if edit["short"] is None else tuple(tuple(p) for p in edit["short"])
            project.set_recist(edit["lesion"], RecistRecord(long_axis, short_axis, edit["key_slice"],
                                                            edit["phase"]))
        else:
            project.update_lesion(edit["lesion"], lesion_class=edit["class"])
        # The method returned: the edit is committed. Only now is it "shown to the user".
        print(json.dumps({"n": n, **edit}), flush=True)
    project.close()


if __name__ == "__main__":
    main(sys.argv[1])
