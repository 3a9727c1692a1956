"""Example campaign backends that rehearse was not written with, each with its scenario.

Not part of the installed wheel: run them from the repository root (`python -m
examples.lucky_bag`), where the current directory is on the import path.
"""
