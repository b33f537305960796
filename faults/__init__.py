"""Fault injection for reliability runs: a run killed in each of its steps, compared with
an uninterrupted one. Run from the checkout (not installed)."""
