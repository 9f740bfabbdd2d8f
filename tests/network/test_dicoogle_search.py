"""Dicoogle's search API, counted by Dicoogle and never listed.

The imitation (tests/support/web_products.py, ``dicoogle_services(indexed=N)``) answers
``/search`` as bioinformatics-ua/dicoogle (c55f72c) SearchServlet does: the results
inside the page, and ``numResults`` the count of every match. The probe asks
``/search?query=*:*&keyword=true&psize=0`` once the web app has named Dicoogle 2.4.0 or
later: the index's total
arrives with no result on the wire, and the endpoint reads as a query exposure.
"""

from __future__ import annotations

from pathlib import Path

import pytest

import exposcan
from exposcan.lab import free_port
from exposcan.probes.web.dicoogle import SEARCH, pages
from exposcan.probes.web.safety import UnsafePathError, check_path
from tests.support.title_claims import web_result
from tests.support.web_products import ASKED, dicoogle_services

HOST = "127.0.14.7"


async def scan(app, tmp_path: Path) -> exposcan.EndpointResult:  # type: ignore[no-untyped-def]
    return await web_result(app, HOST, tmp_path)


def ids(result: exposcan.EndpointResult) -> set[str]:
    return {f.id for f in result.findings}


@pytest.mark.parametrize("ignore_psize", [False, True])
async def test_an_open_search_is_a_query_exposure_with_dicoogles_own_count(tmp_path, ignore_psize):
    app = dicoogle_services(query_port=free_port(), indexed=37, ignore_psize=ignore_psize)
    result = await scan(app, tmp_path)
    assert result.exposure is exposcan.Exposure.QUERY, result.detail
    assert result.matches is not None
    assert (result.matches.count, result.matches.level, result.matches.cap_hit) == (
        37,
        "IMAGE",
        False,
    )
    assert "web-dicoogle-search-open" in ids(result)
    (finding,) = [f for f in result.findings if f.id == "web-dicoogle-search-open"]
    assert "37 instances matched" in finding.evidence
    assert "dicoogle-search" in result.services
    searches = [line for line in app[ASKED] if line.startswith("GET /search")]
    assert searches == [f"GET {SEARCH}"]  # once, with a page of none


@pytest.mark.parametrize("version", ["2.3.1", "2.0.0", "1.9", "unknown"])
async def test_a_release_that_ignores_the_page_is_never_asked(tmp_path, version):
    """Before 2.4.0 Dicoogle's search wrote every match whatever ``psize`` said: patients'
    names on the wire. Such a release (or one that names no release) is not asked."""
    app = dicoogle_services(query_port=free_port(), indexed=37, version=version)
    result = await scan(app, tmp_path)
    assert not [line for line in app[ASKED] if line.startswith("GET /search")]
    assert not any(f.id.startswith("web-dicoogle-search") for f in result.findings)


@pytest.mark.parametrize(
    ("version", "asked"),
    [("2.4.0", True), ("2.10", True), ("3.4.1", True), ("2.3.9", False), ("", False)],
)
def test_which_releases_honour_the_page(version, asked):
    assert pages(version) is asked
    assert pages(None) is False


@pytest.mark.parametrize(
    "answer",
    [
        {"results": [], "numResults": "37"},
        {"results": [], "numResults": -1},
        {"results": [], "numResults": 37.0},
        {"results": [], "numResults": True},
        {"results": [], "numResults": 2**60},
        {"results": [], "numResults": int("9" * 400)},
        {"results": {}, "numResults": 3},
        {"numResults": 3},
        [1, 2, 3],
        "ZZSYNTH",
    ],
)
async def test_a_search_answer_that_is_not_dicoogles_claims_nothing(tmp_path, answer):
    app = dicoogle_services(query_port=free_port(), indexed=0, search_answer=answer)
    result = await scan(app, tmp_path)
    assert not any(f.id.startswith("web-dicoogle-search") for f in result.findings)
    assert result.matches is None
    assert result.status is exposcan.Status.SUCCESS


async def test_an_empty_index_is_still_an_open_search(tmp_path):
    result = await scan(dicoogle_services(query_port=free_port(), indexed=0), tmp_path)
    assert "web-dicoogle-search-open-none-listed" in ids(result)
    assert "web-dicoogle-search-open" not in ids(result)
    assert result.exposure is exposcan.Exposure.ECHO  # the API at work, nothing listed


async def test_a_guarded_search_is_not_an_exposure(tmp_path):
    app = dicoogle_services(query_port=free_port(), indexed=37, search_status=401)
    result = await scan(app, tmp_path)
    assert not {"web-dicoogle-search-open", "web-dicoogle-search-open-none-listed"} & ids(result)
    assert result.matches is None
    assert result.exposure < exposcan.Exposure.QUERY


async def test_without_the_search_api_nothing_changes(tmp_path):
    """A Dicoogle build without /search (the imitation's default): no check, no finding."""
    app = dicoogle_services(query_port=free_port())
    result = await scan(app, tmp_path)
    assert not any(f.id.startswith("web-dicoogle-search") for f in result.findings)
    assert result.matches is None


@pytest.mark.parametrize(
    "path",
    [
        "/search?query=*:*&keyword=true&psize=1",  # a page of results: patients' data
        "/search?query=*:*&psize=0",
        "/search?query=*:*&keyword=false&psize=0",
        "/search?query=*:*",
        "/search?query=*:*&psize=0&field=PatientName",
        "/search?psize=0&query=*:*",
        "/x/search?query=*:*&psize=0",
        "/searchDIM?query=*:*&psize=0",
        "/dump?query=*:*&psize=0",
        "/?query=*:*&psize=0",
    ],
)
def test_the_guard_admits_that_one_search_and_nothing_like_it(path):
    assert check_path(SEARCH) == SEARCH
    with pytest.raises(UnsafePathError):
        check_path(path)
