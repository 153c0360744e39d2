"""notify's revisions, oldest first."""
