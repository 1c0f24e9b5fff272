"""Schema history, one aerich folder per dialect (aerich writes SQL for one dialect only)."""
