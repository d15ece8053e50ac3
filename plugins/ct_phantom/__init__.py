"""Synthetic multi-phase liver CT phantom: a data-source plugin (see plugin.json; code in liverview.synth)."""
