"""The line: a folder watcher that inspects camera images as they land, and its heartbeat."""
