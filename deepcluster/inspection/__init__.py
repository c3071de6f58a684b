"""Looking at clusters instead of numbers: grids, plots and an annotation CSV for a run or checkpoint.

``membership`` decides who belongs where (and how typical each member is), ``outputs`` writes grids and
the CSV, ``plots`` draws sizes and learning curves, ``report.inspect`` does all of it for one checkpoint.
"""

from .report import InspectSettings, inspect

__all__ = ["InspectSettings", "inspect"]
