"""Accounts: sign-up, sign-in, server-side sessions, roles."""
