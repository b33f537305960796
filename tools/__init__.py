"""Tools an instruction-following model can call: a program sandbox, a tool registry, ReAct and PAL.

Imported by the evaluation and data code; imports neither trainer/ nor models/ (a model enters
only as a `generate` callable and a vocabulary).
"""
