"""Scoring sets and writing what was measured: metrics, intervals, a run's report, localisation,
Validate's scoring, result rows, the printable and DICOM reports."""
