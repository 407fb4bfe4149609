"""Rendering of model diagnostics to files (PNG plots and a self-contained HTML page)."""

from kehu.reports.model_plots import ModelReport, write_model_report

__all__ = ["ModelReport", "write_model_report"]
