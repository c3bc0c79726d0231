"""Placeholder until branch r18-dispatch is merged: the call supervisor's dispatcher replaces this file.

attach_submit(call_id=...) is called once a call's provider call id is known; it answers whether the call was
queued for supervision. Here nothing supervises, so it says so in the log and answers False.
"""

import logging

logger = logging.getLogger("speech.supervisor")


def attach_submit(*, call_id: str) -> bool:
    logger.warning("call %s is not supervised: no supervisor dispatcher in this build", call_id)
    return False
