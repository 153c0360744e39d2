"""routing's revisions, oldest first."""
