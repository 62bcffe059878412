"""Subcommands of the ``sam-compose`` CLI that belong to no single feature package."""
