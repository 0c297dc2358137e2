"""Accounts: login and roles (`auth`), the users and account pages (`pages`), /api/v1/me (`api`) and the
users CLI (`cli`; `python -m app.users`)."""
