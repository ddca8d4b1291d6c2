"""Business rules per aggregate. Services take a session and a principal; they never commit."""
