"""Scheduling (RFC 6638, iTIP, iMIP): implicit scheduling, delivery, the mail queue."""
