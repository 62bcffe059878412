"""The package version, in one place (read by pyproject-free code: manifests, exports, the CLI)."""

__version__ = "0.1.0"
