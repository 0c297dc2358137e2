"""Accounts: the users and account pages (`pages`), /api/v1/me (`api`) and the users CLI (`cli`;
`python -m app.users`).  Login and roles are plumbing every area uses: `app.web.auth`."""
