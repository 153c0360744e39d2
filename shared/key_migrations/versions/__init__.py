"""The key registry's revisions, oldest first."""
