"""Accounts, roles and sign-in sessions (Argon2id, hashed expiring tokens). No torch."""
