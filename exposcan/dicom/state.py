"""The association state machine, as one table (requestor side of PS3.8 §9.2).

Everything that changes an association's state is in ``TRANSITIONS``; the
association asks :func:`transition` and never decides a state on its own. The
names in the comments are the PS3.8 Table 9-10 states they stand for.
"""

from __future__ import annotations

from enum import Enum, auto

from exposcan.dicom.events import LocalProtocolError, ProtocolError


class UnexpectedPdu(ProtocolError):
    """A well-formed PDU that the state does not allow (PS3.8 AA-8)."""


class State(Enum):
    IDLE = auto()  # Sta1 with the transport open: nothing sent yet
    AWAITING_AC = auto()  # Sta5
    ESTABLISHED = auto()  # Sta6
    AWAITING_RELEASE_RP = auto()  # Sta7
    PEER_RELEASE_REQUESTED = auto()  # Sta8
    RELEASE_COLLISION = auto()  # Sta9 (we are the requestor)
    AWAITING_RELEASE_RP_COLLISION = auto()  # Sta11
    CLOSED = auto()  # Sta13 / Sta1: nothing more is sent or accepted


class Input(Enum):
    SEND_ASSOCIATE_RQ = auto()
    SEND_P_DATA = auto()
    SEND_RELEASE_RQ = auto()
    SEND_RELEASE_RP = auto()
    SEND_ABORT = auto()
    RECV_ASSOCIATE_RQ = auto()
    RECV_ASSOCIATE_AC = auto()
    RECV_ASSOCIATE_RJ = auto()
    RECV_P_DATA = auto()
    RECV_RELEASE_RQ = auto()
    RECV_RELEASE_RP = auto()
    RECV_ABORT = auto()
    RECV_EOF = auto()


S, In = State, Input

TRANSITIONS: dict[tuple[State, Input], State] = {
    (S.IDLE, In.SEND_ASSOCIATE_RQ): S.AWAITING_AC,
    (S.AWAITING_AC, In.RECV_ASSOCIATE_AC): S.ESTABLISHED,
    (S.AWAITING_AC, In.RECV_ASSOCIATE_RJ): S.CLOSED,
    (S.ESTABLISHED, In.SEND_P_DATA): S.ESTABLISHED,
    (S.ESTABLISHED, In.RECV_P_DATA): S.ESTABLISHED,
    (S.ESTABLISHED, In.SEND_RELEASE_RQ): S.AWAITING_RELEASE_RP,
    (S.ESTABLISHED, In.RECV_RELEASE_RQ): S.PEER_RELEASE_REQUESTED,
    (S.PEER_RELEASE_REQUESTED, In.SEND_RELEASE_RP): S.CLOSED,
    # AR-6: data may still arrive after we asked to release.
    (S.AWAITING_RELEASE_RP, In.RECV_P_DATA): S.AWAITING_RELEASE_RP,
    (S.AWAITING_RELEASE_RP, In.RECV_RELEASE_RP): S.CLOSED,
    # AR-8: both sides asked to release at once.
    (S.AWAITING_RELEASE_RP, In.RECV_RELEASE_RQ): S.RELEASE_COLLISION,
    (S.RELEASE_COLLISION, In.SEND_RELEASE_RP): S.AWAITING_RELEASE_RP_COLLISION,
    (S.AWAITING_RELEASE_RP_COLLISION, In.RECV_RELEASE_RP): S.CLOSED,
}

# An abort or the end of the transport ends every live state (AA-1, AA-3, AA-4).
for _state in State:
    if _state is not S.CLOSED:
        TRANSITIONS[(_state, In.SEND_ABORT)] = S.CLOSED
        TRANSITIONS[(_state, In.RECV_ABORT)] = S.CLOSED
        TRANSITIONS[(_state, In.RECV_EOF)] = S.CLOSED

_LOCAL = frozenset(i for i in Input if i.name.startswith("SEND_"))


def transition(state: State, event: Input) -> State:
    """Return the next state, or raise the error that ``event`` in ``state`` is."""
    try:
        return TRANSITIONS[(state, event)]
    except KeyError:
        what = f"{event.name.lower()} in state {state.name.lower()}"
        if event in _LOCAL:
            raise LocalProtocolError(f"cannot {what}") from None
        # AA-8: an unexpected PDU is a protocol error.
        raise UnexpectedPdu(f"unexpected {what}") from None
