"""Data files shipped with triage (package data)."""
