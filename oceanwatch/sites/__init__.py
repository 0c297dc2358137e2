"""Sites: the hydrophones a deployment watches, each with its position, sensor and audio source.

`spec` says what a valid site is (the one place the API, the page and seeding check it); `store`
reads and changes them in the caller's transaction, audited.  Services ask `store.active_sites`
which sites to serve and pick up an added or removed one without restart.
"""
