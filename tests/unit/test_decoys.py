"""Honeypot signs from observations built by hand (no sockets), and the element count
they rest on: each sign alone, none on a real server's answers, and a suspected
honeypot keeping everything it showed."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydicom.dataset import Dataset
from pydicom.sequence import Sequence as DicomSequence
from pynetdicom.dsutils import encode

from exposcan.classify import classify_dimse
from exposcan.decoys import (
    EXTRA_ELEMENTS_ALLOWED,
    SIGN_ANY_ABSTRACT_SYNTAX,
    SIGN_GO_NETDICOM_MAX_PDU,
    SIGN_NO_IMPLEMENTATION_UID,
    SIGN_PRODUCT_CONTRADICTED,
    SIGN_UNASKED_ATTRIBUTES,
    honeypot_signs,
    observed_signs,
)
from exposcan.dicom import uids
from exposcan.dicom.elements import ElementCounter, count_elements
from exposcan.dicom.events import AcceptedContext, AssociationAccepted, RejectedContext
from exposcan.findings import DICOM_SUSPECTED_HONEYPOT
from exposcan.probes.dimse_observation import Attempt, DimseObservation, FindOutcome
from exposcan.vocabulary import AttemptPurpose, Exposure, Severity, Status

IMPLICIT = uids.IMPLICIT_VR_LITTLE_ENDIAN
STUDY_ROOT_FIND = "1.2.840.10008.5.1.4.1.2.2.1"
DCMTK_UID = "1.2.276.0.7230010.3.0.3.6.7"
PYNETDICOM_UID = "1.2.826.0.1.3680043.9.3811.2.0.2"


def accepted(
    *,
    uid: str | None = DCMTK_UID,
    decoy_accepted: bool = False,
    find: bool = True,
    max_pdu: int = 16384,
) -> AssociationAccepted:
    contexts = [AcceptedContext(1, uids.VERIFICATION, IMPLICIT)]
    if find:
        contexts.append(AcceptedContext(3, STUDY_ROOT_FIND, IMPLICIT))
    refused: list[RejectedContext] = []
    if decoy_accepted:
        contexts.append(AcceptedContext(47, uids.NONEXISTENT_ABSTRACT_SYNTAX, IMPLICIT))
    else:
        refused.append(
            RejectedContext(
                47, uids.NONEXISTENT_ABSTRACT_SYNTAX, 3, "abstract-syntax-not-supported"
            )
        )
    return AssociationAccepted(
        accepted=tuple(contexts),
        rejected=tuple(refused),
        max_pdu_length=max_pdu,
        implementation_class_uid=uid,
        implementation_version_name=None,
        protocol_version=1,
    )


def study_find(count: int = 2, most: int | None = 4) -> FindOutcome:
    return FindOutcome(
        service="study-root-find",
        level="STUDY",
        count=count,
        cap=100,
        cancelled=False,
        final_status=0,
        outcome="matches" if count else "empty",
        asked_elements=2,
        most_elements=most,
    )


def attempt(purpose: str = "first", called: str = "ANY-SCP", **kw: object) -> Attempt:
    return Attempt(
        purpose=AttemptPurpose(purpose),
        called_ae_title=called,
        calling_ae_title="EXPOSCAN",
        status=Status.SUCCESS,
        **kw,  # type: ignore[arg-type]
    )


def observation(*attempts: Attempt) -> DimseObservation:
    return DimseObservation(host="127.0.0.1", port=4242, attempts=attempts, duration_s=0.1)


def real_archive(**kw: object) -> DimseObservation:
    """What Orthanc or dcmqrscp answer: the decoy refused, DCMTK's UID, keys returned."""
    first = attempt(accepted=accepted(), echo_status=0, find=study_find(), released=True)
    return observation(first, attempt("random", "RANDOMTITLE00001", **kw))


def sign_ids(obs: DimseObservation, hints: dict[str, str] | None = None) -> set[str]:
    """Every sign seen, suspicion or not."""
    return {sign for sign, _ in observed_signs(obs.attempts, hints)}


def suspected(obs: DimseObservation, hints: dict[str, str] | None = None) -> bool:
    return bool(honeypot_signs(obs.attempts, hints))


def test_a_real_archive_shows_no_sign():
    obs = real_archive(accepted=accepted(find=False))
    assert sign_ids(obs) == set()
    verdict = classify_dimse(obs)
    assert DICOM_SUSPECTED_HONEYPOT.id not in {f.id for f in verdict.findings}
    assert verdict.detail is None


def test_accepting_the_impossible_abstract_syntax_is_a_sign():
    obs = observation(attempt(accepted=accepted(decoy_accepted=True), echo_status=0))
    assert sign_ids(obs) == {SIGN_ANY_ABSTRACT_SYNTAX}
    # Alone it is odil's default acceptor, not a decoy: no finding, no detail.
    assert not suspected(obs)
    verdict = classify_dimse(obs)
    assert DICOM_SUSPECTED_HONEYPOT.id not in {f.id for f in verdict.findings}
    assert verdict.detail is None
    # It is never a service the peer offers.
    assert uids.NONEXISTENT_ABSTRACT_SYNTAX not in classify_dimse(obs).services


@pytest.mark.parametrize("max_pdu", [4 << 20, 4 * 1024 * 1024 - 1, 16384, 0])
def test_go_netdicoms_maximum_length_is_a_weak_sign(max_pdu):
    """4 MiB exactly, go-netdicom's default (dicompot's): a sign, never alone."""
    obs = observation(attempt(accepted=accepted(max_pdu=max_pdu), echo_status=0))
    expected = {SIGN_GO_NETDICOM_MAX_PDU} if max_pdu == 4 << 20 else set()
    assert sign_ids(obs) == expected
    assert not suspected(obs)
    beside = observation(
        attempt(accepted=accepted(max_pdu=max_pdu, decoy_accepted=True), echo_status=0)
    )
    assert suspected(beside) is (max_pdu == 4 << 20)  # with a second weak sign: suspected


def test_a_missing_implementation_class_uid_is_a_sign():
    obs = observation(attempt(accepted=accepted(uid=None), echo_status=0))
    assert sign_ids(obs) == {SIGN_NO_IMPLEMENTATION_UID}
    assert not suspected(obs)  # alone: GRAIL's go-netdicom sends none


def test_two_weak_signs_together_are_a_suspicion():
    # dicompot: no implementation class UID, and any abstract syntax accepted.
    obs = observation(attempt(accepted=accepted(uid=None, decoy_accepted=True), echo_status=0))
    assert suspected(obs)
    verdict = classify_dimse(obs)
    assert DICOM_SUSPECTED_HONEYPOT.id in {f.id for f in verdict.findings}


def test_a_product_title_under_pynetdicoms_uid_is_a_sign():
    # ANY-SCP refused as unknown, ORTHANC (Orthanc's own default) accepted: a claim.
    from exposcan.dicom.events import AssociationRejected

    refused = AssociationRejected(1, 1, 7, "rejected-permanent", "service-user", "called AE")
    obs = observation(
        attempt(rejected=refused),
        attempt("stock", "ORTHANC", accepted=accepted(uid=PYNETDICOM_UID), echo_status=0),
    )
    assert sign_ids(obs) == {SIGN_PRODUCT_CONTRADICTED}
    assert suspected(obs)  # strong on its own: no real product claims what it is not
    ((_, text),) = honeypot_signs(obs.attempts)
    assert "'ORTHANC'" in text
    assert "Orthanc" in text
    assert "pynetdicom" in text


def test_a_title_the_user_gave_is_no_claim_and_no_shipped_default():
    # The random title and ANY-SCP refused as unknown; the site's own title, given with
    # --ae-titles, accepted. ORTHANC is a product's default, but the user named it here.
    from exposcan.dicom.events import AssociationRejected

    refused = AssociationRejected(1, 1, 7, "rejected-permanent", "service-user", "called AE")
    obs = observation(
        attempt("random", "RANDOMTITLE00001", rejected=refused),
        attempt("first", "ANY-SCP", rejected=refused),
        attempt("user", "ORTHANC", accepted=accepted(uid=PYNETDICOM_UID), echo_status=0),
    )
    assert sign_ids(obs) == set()
    verdict = classify_dimse(obs)
    found = {f.id: f for f in verdict.findings}
    assert "dicom-stock-ae-title" not in found
    assert "given with --ae-titles" in found["dicom-called-ae-checked"].evidence
    assert verdict.ae_title == "ORTHANC"


def test_a_title_that_any_title_would_match_is_no_claim():
    obs = observation(
        attempt(called="ORTHANC", accepted=accepted(uid=PYNETDICOM_UID), echo_status=0),
        attempt("random", "RANDOMTITLE00001", accepted=accepted(uid=PYNETDICOM_UID)),
    )
    assert sign_ids(obs) == set()


def test_the_web_sides_product_under_pynetdicoms_uid_is_a_sign():
    obs = observation(attempt(accepted=accepted(uid=PYNETDICOM_UID), echo_status=0))
    assert sign_ids(obs) == set()
    assert sign_ids(obs, {"web_product": "Orthanc", "web_version": "1.12.1"}) == {
        SIGN_PRODUCT_CONTRADICTED
    }
    # pynetdicom's own SCPs say they are pynetdicom: no contradiction.
    assert sign_ids(obs, {"web_product": "pynetdicom"}) == set()
    # The same claim under DCMTK's UID (what Orthanc really sends) is consistent.
    dcmtk = observation(attempt(accepted=accepted(), echo_status=0))
    assert sign_ids(dcmtk, {"web_product": "Orthanc"}) == set()


@pytest.mark.parametrize(
    ("most", "flagged"),
    [
        (None, False),
        (2, False),
        (2 + EXTRA_ELEMENTS_ALLOWED, False),
        (3 + EXTRA_ELEMENTS_ALLOWED, True),
        (40, True),
    ],
)
def test_attributes_nobody_asked_for_are_a_sign(most, flagged):
    obs = observation(attempt(accepted=accepted(), echo_status=0, find=study_find(3, most)))
    assert sign_ids(obs) == ({SIGN_UNASKED_ATTRIBUTES} if flagged else set())
    assert suspected(obs) is flagged  # canned whole data sets: enough on their own


def test_a_suspected_honeypot_keeps_what_it_showed():
    honest = classify_dimse(real_archive(accepted=accepted(find=False)))
    decoy_first = attempt(
        accepted=accepted(uid=None, decoy_accepted=True), echo_status=0, find=study_find(2, 30)
    )
    decoy = classify_dimse(
        observation(decoy_first, attempt("random", "R", accepted=accepted(uid=None)))
    )
    assert decoy.exposure is honest.exposure is Exposure.QUERY
    assert decoy.matches == honest.matches
    honest_ids = {f.id for f in honest.findings}
    assert honest_ids <= {f.id for f in decoy.findings}
    (finding,) = [f for f in decoy.findings if f.id == DICOM_SUSPECTED_HONEYPOT.id]
    assert finding.severity is Severity.INFO
    assert finding.title == DICOM_SUSPECTED_HONEYPOT.title
    assert finding.evidence.startswith("3 sign(s): ")
    for sign in (SIGN_ANY_ABSTRACT_SYNTAX, SIGN_NO_IMPLEMENTATION_UID, SIGN_UNASKED_ATTRIBUTES):
        assert sign in finding.evidence
    assert decoy.detail == (
        f"suspected honeypot: {SIGN_ANY_ABSTRACT_SYNTAX}, {SIGN_NO_IMPLEMENTATION_UID}, "
        f"{SIGN_UNASKED_ATTRIBUTES}"
    )


# --- counting elements from their headers ---------------------------------------------


def whole_study(*, sequence: bool = False) -> Dataset:
    ds = Dataset()
    ds.QueryRetrieveLevel = "STUDY"
    ds.PatientName = "ZZSYNTH^COUNT"
    ds.StudyInstanceUID = "1.2.3.4"
    ds.RetrieveAETitle = "ZZSYNTH"
    if sequence:
        item = Dataset()
        item.CodeValue = "ZZ1"
        item.CodingSchemeDesignator = "99ZZ"
        inner = Dataset()
        inner.CodeValue = "ZZ2"
        item.ConceptNameCodeSequence = DicomSequence([inner])
        ds.ProcedureCodeSequence = DicomSequence([item, Dataset()])
    return ds


@pytest.mark.parametrize("implicit", [True, False])
@pytest.mark.parametrize("sequence", [False, True])
def test_top_level_elements_are_counted_whatever_the_encoding(implicit, sequence):
    ds = whole_study(sequence=sequence)
    data = bytes(encode(ds, implicit, True))
    assert count_elements(data, implicit=implicit) == len(ds)


@pytest.mark.parametrize("implicit", [True, False])
def test_undefined_length_sequences_are_walked_not_counted(implicit):
    ds = whole_study(sequence=True)
    ds["ProcedureCodeSequence"].is_undefined_length = True
    for item in ds.ProcedureCodeSequence:
        item.is_undefined_length_sequence_item = True
    data = bytes(encode(ds, implicit, True))
    assert b"\xfe\xff\xdd\xe0" in data  # a sequence delimiter is really there
    assert count_elements(data, implicit=implicit) == len(ds) == 5


def test_counting_fragment_by_fragment_gives_the_same_count():
    data = bytes(encode(whole_study(sequence=True), False, True))
    counter = ElementCounter(implicit=False)
    for index in range(len(data)):
        counter.feed(data[index : index + 1])
    assert counter.result() == 5


@pytest.mark.parametrize(
    "data",
    [
        b"\x08\x00\x20\x00",  # a header cut short
        b"\x08\x00\x20\x00DA\x08\x00" + b"2020",  # a value cut short
        b"\x08\x00\x20\x00\x01\x02\x08\x00" + b"20200101",  # no VR where one must be
        b"\xfe\xff\x0d\xe0\x00\x00\x00\x00",  # a delimiter with nothing open
    ],
)
def test_bytes_that_are_no_data_set_count_as_unknown(data):
    assert count_elements(data, implicit=False) is None


def test_our_own_identifiers_ask_two_keys_and_one():
    from exposcan.dicom.dimse import find_identifier

    assert count_elements(find_identifier("STUDY", IMPLICIT), implicit=True) == 2
    assert count_elements(find_identifier("WORKLIST", IMPLICIT), implicit=True) == 1


# --- Orthanc's storage contexts (docs/decoys-and-products.md) ---------------------------

CT_STORAGE = "1.2.840.10008.5.1.4.1.1.2"


def storage_accepted() -> AssociationAccepted:
    base = accepted(find=False)
    return AssociationAccepted(
        accepted=(*base.accepted, AcceptedContext(17, CT_STORAGE, IMPLICIT)),
        rejected=base.rejected,
        max_pdu_length=base.max_pdu_length,
        implementation_class_uid=DCMTK_UID,
        implementation_version_name="OFFIS_DCMTK_367",
        protocol_version=1,
    )


def storage_evidence(verdict) -> str:  # type: ignore[no-untyped-def]
    (finding,) = [f for f in verdict.findings if f.id == "dicom-storage-accepted"]
    return finding.evidence


def test_orthanc_keeps_store_with_the_reason_it_is_unconfirmed():
    from exposcan.product_notes import ORTHANC_STORE_NOTE

    obs = observation(
        attempt(accepted=storage_accepted(), echo_status=0),
        attempt("random", "RANDOMTITLE00001", accepted=storage_accepted()),
    )
    plain = classify_dimse(obs)
    assert plain.exposure is Exposure.STORE
    assert ORTHANC_STORE_NOTE not in storage_evidence(plain)  # DCMTK alone says nothing
    assert plain.detail is None
    orthanc = classify_dimse(obs, hints={"web_product": "Orthanc"})
    assert orthanc.fingerprint is not None
    assert orthanc.fingerprint.product == "Orthanc"
    assert orthanc.exposure is Exposure.STORE  # kept: Orthanc's own default stores
    assert storage_evidence(orthanc).endswith(ORTHANC_STORE_NOTE)
    assert orthanc.detail == f"store unconfirmed: {ORTHANC_STORE_NOTE}"
    assert {f.id for f in orthanc.findings} == {f.id for f in plain.findings}


def test_a_checked_orthanc_title_on_dcmtk_gets_the_note_too():
    from exposcan.dicom.events import AssociationRejected
    from exposcan.product_notes import ORTHANC_STORE_NOTE

    refused = AssociationRejected(1, 1, 7, "rejected-permanent", "service-user", "called AE")
    obs = observation(
        attempt(rejected=refused),
        attempt("stock", "ORTHANC", accepted=storage_accepted(), echo_status=0),
    )
    verdict = classify_dimse(obs)
    assert verdict.exposure is Exposure.STORE
    assert storage_evidence(verdict).endswith(ORTHANC_STORE_NOTE)
    assert DICOM_SUSPECTED_HONEYPOT.id not in {f.id for f in verdict.findings}


@given(data=st.binary(max_size=512), implicit=st.booleans(), cut=st.integers(0, 512))
@settings(max_examples=300, deadline=None)
def test_any_bytes_count_the_same_whatever_the_fragments(data, implicit, cut):
    """Peer bytes: never an exception, and the count does not depend on fragmenting."""
    whole = count_elements(data, implicit=implicit)
    counter = ElementCounter(implicit=implicit)
    counter.feed(data[:cut])
    counter.feed(data[cut:])
    assert counter.result() == whole
    assert whole is None or 0 <= whole <= len(data) // 8
