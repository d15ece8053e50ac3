"""Harvest verification in the viewer: review dock, proposal boxes in the panes, thumbnails."""
