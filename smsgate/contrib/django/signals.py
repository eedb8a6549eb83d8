"""Signals sent by smsgate's Django app."""

from __future__ import annotations

from django.dispatch import Signal

#: Sent once per verified delivery report, with ``sender`` the provider's registry name
#: (``"gosms.ro"``) and ``report`` a :class:`smsgate.DeliveryReport`. A receiver that raises
#: makes the view answer 500, so that the provider calls again later.
delivery_report_received = Signal()
