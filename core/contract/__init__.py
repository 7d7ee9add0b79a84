"""The torch-free contract every layer shares: errors, settings and the Verdict."""
