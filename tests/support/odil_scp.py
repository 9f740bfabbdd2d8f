"""A DICOM SCP built on odil (Debian ``python3-odil``), run by ``tests/support/peers_more.py``.

Run with Debian's ``/usr/bin/python3`` (odil is bound to it, not to the venv's Python)::

    python3 odil_scp.py PORT MATCHES.json

odil's Python binding can only listen on every IPv4 address (``receive_association("v4",
port)``), so the launcher runs this inside a network namespace that holds only ``lo``. One
association at a time, each on a fresh listening socket, as odil's own examples and tests
serve: odil's default acceptor accepts every proposed presentation context, C-ECHO is
answered, and any C-FIND (Study Root, Patient Root, Modality Worklist) returns one pending
response per entry of MATCHES.json (synthetic values only) with the query's level. Nothing
received is stored: a C-STORE or any other request aborts the association.
"""

from __future__ import annotations

import json
import sys

import odil  # type: ignore[import-not-found]

C_ECHO_RQ = 0x0030
C_FIND_RQ = 0x0020


class Matches(odil.FindSCP.DataSetGenerator):  # type: ignore[misc]
    def __init__(self, entries: list[dict[str, str]]) -> None:
        odil.FindSCP.DataSetGenerator.__init__(self)
        self._entries = entries
        self._responses: list[object] = []
        self._index = 0

    def initialize(self, message: object) -> None:
        query = message.get_data_set()  # type: ignore[attr-defined]
        level = (
            query.as_string("QueryRetrieveLevel")[0].decode()
            if query.has("QueryRetrieveLevel")
            else None
        )
        self._responses = []
        for entry in self._entries:
            data_set = odil.DataSet()
            if level is not None:
                data_set.add("QueryRetrieveLevel", [level])
            for keyword, value in entry.items():
                data_set.add(keyword, [value])
            self._responses.append(data_set)
        self._index = 0

    def done(self) -> bool:
        return self._index >= len(self._responses)

    def next(self) -> None:
        self._index += 1

    def get(self) -> object:
        return self._responses[self._index]


def serve_one(port: int, entries: list[dict[str, str]]) -> None:
    association = odil.Association()
    association.set_tcp_timeout(10)
    association.receive_association("v4", port)
    echo = odil.EchoSCP(association)
    echo.set_callback(lambda message: 0)
    find = odil.FindSCP(association)
    # Held here: odil keeps only the C++ side, and a collected Python generator would
    # leave it calling pure virtual methods.
    generator = Matches(entries)
    find.set_generator(generator)
    while True:
        message = association.receive_message()
        command = message.get_command_field()
        if command == C_ECHO_RQ:
            echo(message)
        elif command == C_FIND_RQ:
            find(message)
        else:
            association.abort(0, 0)
            return


def main() -> None:
    port = int(sys.argv[1])
    with open(sys.argv[2], encoding="utf-8") as handle:
        entries = json.load(handle)
    print("odil", odil.implementation_class_uid, odil.implementation_version_name, flush=True)
    while True:
        try:
            serve_one(port, entries)
        except (odil.AssociationReleased, odil.AssociationAborted):
            pass
        except odil.Exception as error:  # a peer that closed early, a malformed PDU
            print(f"association ended: {type(error).__name__}", flush=True)


if __name__ == "__main__":
    main()
