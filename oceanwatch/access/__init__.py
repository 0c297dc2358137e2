"""Who may do what: accounts, roles, API tokens and the live-dashboard grants."""
