"""intake's revisions, oldest first."""
