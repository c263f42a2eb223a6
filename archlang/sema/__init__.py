"""Meaning: scopes, numbers, binding layer arguments, chains and blocks elaborated into an
analysed graph."""
