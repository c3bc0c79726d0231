"""Calls: what the gateway knows of each call it mints (record, transcript, usage) and each call policy."""
