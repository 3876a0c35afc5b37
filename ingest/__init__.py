"""Reading input files, column mapping, validation, rejects, the synthetic generator."""
