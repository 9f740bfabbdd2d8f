"""Signs that a DICOM peer is a honeypot, read from what the probe saw. Pure.

Surveys of Internet-facing PACS find that many "open" ones are decoys. The two public
DICOM honeypots are described well enough to be told apart from real servers by what
they do on the wire (docs/decoys-and-products.md):

* **dicompot** answers every A-ASSOCIATE-RQ with an A-ASSOCIATE-AC whose user
  information holds the maximum-length sub-item alone (4 MiB, go-netdicom's default),
  and accepts every abstract syntax it is offered;
* **DICOMHawk** (pynetdicom) takes a product's AE title (``ORTHANC``) under
  pynetdicom's implementation class UID and answers any C-FIND with whole canned
  data sets, whatever keys were asked.

Each sign is a protocol fact, never a value a peer returned: exposcan proposed an
abstract syntax that cannot exist (:data:`~exposcan.dicom.uids.NONEXISTENT_ABSTRACT_SYNTAX`);
PS3.7 Annex D.3.3.2 makes the implementation class UID mandatory; a product claimed (by
the called AE title the peer answers to, or by its host's web side) cannot run on the
toolkit its implementation class UID names; a C-FIND response carries many more
attributes than were asked, counted from element headers; the A-ASSOCIATE-AC, echoed
titles aside, is the one several other hosts of the scan gave
(:mod:`exposcan.probes.dimse_alike`).

A contradicted product claim, or C-FIND answers holding many attributes nobody asked
for, is enough on its own (no real product claims what it cannot be; an archive answers
the keys asked, plus the few an SCP may add). The A-ASSOCIATE-AC signs, and the same
AC on many hosts, only count beside another sign, because a real toolkit or site shows
each alone: odil's default acceptor accepts every context (and odil names itself),
GRAIL's go-netdicom (which dicompot copies) sends no implementation class UID and
announces 4 MiB, a server may be set to 4 MiB, a fleet of identical installations
answers alike. dicompot shows the first three; DICOMHawk
answers with canned data sets and contradicts the product it claims. A suspicion is an informational
finding: a suspected honeypot is reported, never dropped, and what it showed (an echo is
an echo) is not lowered.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from functools import cache

from exposcan import findings as catalogue
from exposcan.dicom import uids
from exposcan.probes.dimse_alike import ALIKE_OTHERS
from exposcan.probes.dimse_observation import Attempt, FindOutcome
from exposcan.results import Finding

__all__ = [
    "EXTRA_ELEMENTS_ALLOWED",
    "GO_NETDICOM_MAX_PDU",
    "PYNETDICOM_UID_ROOT",
    "SIGN_ANY_ABSTRACT_SYNTAX",
    "SIGN_GO_NETDICOM_MAX_PDU",
    "SIGN_NO_IMPLEMENTATION_UID",
    "SIGN_PRODUCT_CONTRADICTED",
    "SIGN_SAME_ACCEPT",
    "SIGN_UNASKED_ATTRIBUTES",
    "STRONG_SIGNS",
    "claimed_products",
    "honeypot_detail",
    "honeypot_finding",
    "honeypot_signs",
    "observed_signs",
]

SIGN_ANY_ABSTRACT_SYNTAX = "accepts-any-abstract-syntax"  # alone: odil's default acceptor
SIGN_NO_IMPLEMENTATION_UID = "no-implementation-class-uid"
SIGN_PRODUCT_CONTRADICTED = "product-contradicted"
SIGN_UNASKED_ATTRIBUTES = "unasked-attributes"
#: Weak: identical installations of a real product answer alike too.
SIGN_SAME_ACCEPT = "same-accept-on-many-hosts"
#: Weak: a real server may be configured to announce the same maximum length.
SIGN_GO_NETDICOM_MAX_PDU = "go-netdicom-max-pdu"

#: The maximum PDU length go-netdicom's provider announces (``DefaultMaxPDUSize = 4 << 20``,
#: serviceprovider.go), which dicompot, a copy of that code, announces too; the toolkits
#: of exposcan/data/fingerprints.toml default to 16 KiB (DCMTK 16384, pynetdicom 16382,
#: dcm4che 16378) or so.
GO_NETDICOM_MAX_PDU = 4 << 20

#: pynetdicom's implementation class UID root (exposcan/data/fingerprints.toml cites it).
PYNETDICOM_UID_ROOT = "1.2.826.0.1.3680043.9.3811."
#: A C-FIND response holds the keys asked (PS3.4 §C.4.1.2.3) and may add a few the SCP
#: chooses: Specific Character Set, Retrieve AE Title, Instance Availability, the storage
#: media file-set ID and UID, Timezone Offset From UTC, Query/Retrieve View (PS3.4
#: §C.4.1.1.3.2, §C.4.1.2.3.1); eight beyond the keys leaves room for every one of them
#: and a private group length. A canned whole data set carries dozens.
EXTRA_ELEMENTS_ALLOWED = 8


#: Signs enough on their own (see the module); the others count in pairs.
STRONG_SIGNS = frozenset({SIGN_PRODUCT_CONTRADICTED, SIGN_UNASKED_ATTRIBUTES})


def honeypot_signs(
    attempts: Sequence[Attempt],
    hints: Mapping[str, str] | None = None,
    *,
    alike_hosts: int = 0,
) -> tuple[tuple[str, str], ...]:
    """The signs of a suspected honeypot, as (sign id, evidence) pairs in a fixed order;
    ``()`` when what was seen is no suspicion (no sign, or one weak sign alone: see the
    module). ``hints`` are what another probe of the host said about this port
    (``web_product``); ``alike_hosts``: how many other hosts of the scan had answered
    with the same A-ASSOCIATE-AC before it (:mod:`exposcan.probes.dimse_alike`)."""
    signs = observed_signs(attempts, hints, alike_hosts=alike_hosts)
    if len(signs) >= 2 or any(sign in STRONG_SIGNS for sign, _ in signs):
        return signs
    return ()


def observed_signs(
    attempts: Sequence[Attempt],
    hints: Mapping[str, str] | None = None,
    *,
    alike_hosts: int = 0,
) -> tuple[tuple[str, str], ...]:
    """Every sign seen, suspicion or not, as (sign id, evidence) pairs in a fixed order."""
    accepted = [a for a in attempts if a.accepted is not None]
    signs: list[tuple[str, str]] = []
    if any(
        c.abstract_syntax == uids.NONEXISTENT_ABSTRACT_SYNTAX
        for a in accepted
        for c in a.accepted.accepted  # type: ignore[union-attr]
    ):
        signs.append(
            (
                SIGN_ANY_ABSTRACT_SYNTAX,
                "accepted a presentation context for an abstract syntax that cannot exist "
                "(proposed as a test; a real SCP refuses it, result 3)",
            )
        )
    if any(a.accepted.implementation_class_uid is None for a in accepted):  # type: ignore[union-attr]
        signs.append(
            (
                SIGN_NO_IMPLEMENTATION_UID,
                "the A-ASSOCIATE-AC carries no implementation class UID (mandatory, PS3.7 D.3.3.2)",
            )
        )
    if any(a.accepted.max_pdu_length == GO_NETDICOM_MAX_PDU for a in accepted):  # type: ignore[union-attr]
        signs.append(
            (
                SIGN_GO_NETDICOM_MAX_PDU,
                f"the A-ASSOCIATE-AC's maximum length is {GO_NETDICOM_MAX_PDU} bytes "
                "(PS3.8 D.1), go-netdicom's default, which dicompot copies (a server set "
                "to it shows it too: counted only beside another sign)",
            )
        )
    contradiction = _contradicted_claim(attempts, accepted, hints or {})
    if contradiction is not None:
        signs.append((SIGN_PRODUCT_CONTRADICTED, contradiction))
    unasked = _unasked_attributes(accepted)
    if unasked is not None:
        signs.append((SIGN_UNASKED_ATTRIBUTES, unasked))
    if alike_hosts >= ALIKE_OTHERS and accepted:
        signs.append(
            (
                SIGN_SAME_ACCEPT,
                f"the A-ASSOCIATE-AC, echoed AE titles aside, is the one {alike_hosts} "
                "other host(s) of this scan gave before (identical installations answer "
                "alike too: counted only beside another sign)",
            )
        )
    return tuple(signs)


def honeypot_finding(signs: Sequence[tuple[str, str]]) -> Finding:
    """The ``dicom-suspected-honeypot`` finding for :func:`honeypot_signs`' answer."""
    return catalogue.DICOM_SUSPECTED_HONEYPOT.found(
        f"{len(signs)} sign(s): " + "; ".join(f"{sign}: {text}" for sign, text in signs)
    )


def honeypot_detail(signs: Sequence[tuple[str, str]]) -> str:
    """What a result's detail says of them (the finding holds the evidence)."""
    return "suspected honeypot: " + ", ".join(sign for sign, _ in signs)


def claimed_products(
    attempts: Sequence[Attempt], hints: Mapping[str, str] | None = None
) -> tuple[str, ...]:
    """Products the peer claims to be: its checked called AE title's (a title only it
    answers to, while a random one is refused), its host's web side's (``*_product``)."""
    return tuple(product for product, _ in _claims(attempts, hints or {}))


def _claims(attempts: Sequence[Attempt], hints: Mapping[str, str]) -> list[tuple[str, str]]:
    claims: list[tuple[str, str]] = []
    random = next((a for a in attempts if a.purpose == "random"), None)
    # A title the peer answers to is a claim only if it is checked: where a random
    # title is accepted too, the accepted title is merely the one exposcan sent.
    if random is None or random.accepted is None:
        for attempt in attempts:
            if attempt.accepted is not None and attempt.purpose in ("first", "stock"):
                product = _title_products().get(attempt.called_ae_title)
                if product is not None:
                    claims.append(
                        (product, f"called AE {attempt.called_ae_title!r} is {product}'s")
                    )
                    break
    for key, value in sorted(hints.items()):
        if key.endswith("_product"):
            claims.append((value, f"the host's {key.removesuffix('_product')} side says {value}"))
    return claims


def _contradicted_claim(
    attempts: Sequence[Attempt], accepted: Sequence[Attempt], hints: Mapping[str, str]
) -> str | None:
    """A product claimed, under pynetdicom's implementation class UID.

    No product of the AE title list or of the web fingerprints runs on pynetdicom
    (pynetdicom's own sample SCPs excepted, and their titles are not claims here).
    """
    uid = next(
        (
            a.accepted.implementation_class_uid
            for a in accepted
            if a.accepted is not None and a.accepted.implementation_class_uid
        ),
        None,
    )
    if uid is None or not uid.startswith(PYNETDICOM_UID_ROOT):
        return None
    claims = [how for product, how in _claims(attempts, hints) if not _is_pynetdicom(product)]
    if not claims:
        return None
    return (
        " and ".join(claims)
        + f"; the implementation class UID is pynetdicom's ({PYNETDICOM_UID_ROOT}*)"
    )


def _unasked_attributes(accepted: Sequence[Attempt]) -> str | None:
    outcomes: list[FindOutcome] = [
        f for a in accepted for f in (a.find, a.worklist) if f is not None
    ]
    for find in outcomes:
        if find.most_elements is None or not find.asked_elements:
            continue
        if find.most_elements > find.asked_elements + EXTRA_ELEMENTS_ALLOWED:
            return (
                f"{find.service} C-FIND responses held up to {find.most_elements} "
                f"attributes for {find.asked_elements} key(s) asked (values not read)"
            )
    return None


def _is_pynetdicom(product: str) -> bool:
    return "pynetdicom" in product.lower()


@cache
def _title_products() -> dict[str, str]:
    """Stock titles that are one product's own default, by title (pynetdicom's left out)."""
    from exposcan.aetitles import stock_titles

    return {
        title.value: title.product
        for title in stock_titles()
        if title.product and not _is_pynetdicom(title.product)
    }
