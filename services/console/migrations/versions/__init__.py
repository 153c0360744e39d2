"""The console's revisions, oldest first."""
