"""Schedule, its ordered tasks and its runs will live here."""
