"""Custom integrations (the test suite imports them from here)."""
