"""How big a scan may be: light enough for the command line's parser to import.

:mod:`exposcan.scan` re-exports both and reads its own ``LARGE_SCAN`` at call time,
so ``exposcan.scan.LARGE_SCAN`` stays the one a test or a caller may patch."""

from __future__ import annotations

#: Above this many endpoints a scan needs ``allow_large``: a /14 times four
#: ports, or a /12 on one port, is bigger than any one hospital's DICOM estate
#: and more often a typo (a /8 for a /24) than a plan.
LARGE_SCAN = 1 << 20
#: No scan goes beyond this (an IPv6 /64 would never finish).
MAX_SCAN = 1 << 32
