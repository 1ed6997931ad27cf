"""Use cases. Each opens one unit of work (one transaction) and imports no Flask, so the
API, the CLI, jobs and tests call the same functions."""
