"""Password hashing, the password policy, signing keys and tokens."""
