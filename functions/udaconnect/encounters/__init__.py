"""Encounters: runs of contacts between two persons, detected as fixes are stored and rebuilt from history."""
