"""Sites: the hydrophones the platform watches, listed and managed (operators and admins, audited)."""
