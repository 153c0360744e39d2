"""The console's use cases, each over one unit of work: people and their sessions."""
