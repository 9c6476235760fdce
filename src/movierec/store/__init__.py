"""Model artifacts (and, with the service, the registry and ratings database)."""

from movierec.store.artifact import load, read_meta, save

__all__ = ["load", "read_meta", "save"]
