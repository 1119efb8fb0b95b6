"""Users and logging in: registration, login and logout views, the users store."""
