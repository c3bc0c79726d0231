"""The asyncio side: one sideband connection per call (session.py), its records and limits."""
