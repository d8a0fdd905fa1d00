"""Command-line tools that are not training: `python -m cli.predict` (a folder of scans to a CSV)."""
