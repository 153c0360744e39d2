"""triage's revisions, oldest first."""
