"""Called AE titles: the packaged stock list, user lists (TOML or plain text)
with one-line errors, and random probe titles."""

from __future__ import annotations

import random
import re
import subprocess
from pathlib import Path

import pynetdicom
import pytest

import exposcan
from exposcan.aetitles import (
    MAX_FILE_BYTES,
    MAX_TITLES,
    RANDOM_TITLE_ALPHABET,
    StockTitle,
    ae_title_problem,
    load_ae_titles,
    random_ae_title,
    stock_titles,
)
from exposcan.errors import OptionError
from exposcan.options import Limits, ScanOptions
from exposcan.vocabulary import Exposure
from tests.support.peers import _require  # a missing peer package fails, as for every peer

# --- the packaged list ---------------------------------------------------------


def test_every_stock_title_is_valid_and_sourced() -> None:
    titles = stock_titles()
    assert len(titles) >= 20
    for title in titles:
        assert isinstance(title, StockTitle)
        assert ae_title_problem(title.value) is None, title
        assert title.value == title.value.strip()
        assert title.product.strip()
        assert title.role.strip()
        assert title.source.strip()
    values = [t.value for t in titles]
    assert len(values) == len(set(values))
    # The options layer accepts every one of them as a called AE title.
    ScanOptions(ae_titles=tuple(values))


def test_stock_titles_are_ordered_most_likely_first() -> None:
    values = [t.value for t in stock_titles()]
    assert values[0] == "ANY-SCP"
    # What the default budget reaches after the random opening and ANY-SCP: the
    # shipped titles that let a stranger in where the called title is checked:
    # Orthanc's and dcm4chee's defaults, the storage SCPs' default, and the dcmqrscp
    # sample entries open to ANY peer (Debian's READWRITE, upstream's COMMON).
    budget = ScanOptions().ae_attempts
    reached = values[1 : budget - 1]
    assert reached == ["ORTHANC", "DCM4CHEE", "STORESCP", "READWRITE", "COMMON"][: budget - 2]
    # Product defaults before secondary sample titles; titles restricted to named peers
    # (ACME_STORE, UNITED_STORE only admit their HostTable peers) after those open to ANY.
    for product_default in ("CONQUESTSRV1", "DICOOGLE-STORAGE", "AETITLE", "OSIRIX"):
        assert values.index(product_default) < values.index("DCMQRSCP")
    for restricted in ("ACME_STORE", "UNITED_STORE"):
        assert values.index(restricted) > values.index("READ") > values.index("COMMON")
    assert {"DICOOGLE-STORAGE", "QRSCP", "ECHOSCP", "PYNETDICOM", "DCMRECV"} <= set(values)


@pytest.mark.parametrize(
    ("value", "product", "where"),
    [
        ("AETITLE", "ClearCanvas", "ClearCanvas/ClearCanvas ImageViewer/Common/DicomServer/"),
        ("OSIRIX", "OsiriX", "horosproject/horos Horos/Sources/DefaultsOsiriX.m"),
        ("HOROS", "Horos", "horosproject/horos Horos/Sources/AppController.m"),
    ],
)
def test_viewer_and_pacs_defaults_are_sourced(value: str, product: str, where: str) -> None:
    title = by_value(value)
    assert product in title.product
    assert where in title.source


def test_stock_titles_are_loaded_once() -> None:
    assert stock_titles() is stock_titles()


def by_value(value: str) -> StockTitle:
    return next(t for t in stock_titles() if t.value == value)


def test_pynetdicom_defaults_match_the_installed_package() -> None:
    assert pynetdicom.AE().ae_title == by_value("PYNETDICOM").value
    ini = Path(pynetdicom.__file__).parent / "apps" / "qrscp" / "default.ini"
    assert "ae_title: QRSCP" in ini.read_text()
    assert "ANY-SCP" in stock_titles()[0].source


def test_dcmtk_defaults_match_the_installed_package() -> None:
    _require("/usr/bin/storescp")
    for tool, title in (("/usr/bin/storescp", "STORESCP"), ("/usr/bin/dcmrecv", "DCMRECV")):
        help_text = subprocess.run(
            [tool, "--help"], capture_output=True, text=True, check=False
        ).stdout
        assert f"(default: {title})" in help_text
        assert by_value(title)
    echoscu = subprocess.run(
        ["/usr/bin/echoscu", "--help"], capture_output=True, text=True, check=False
    ).stdout
    assert "(default: ANY-SCP)" in echoscu


def test_dcmqrscp_sample_titles_match_the_installed_package() -> None:
    _require("/etc/dcmtk/dcmqrscp.cfg")
    sample = Path("/etc/dcmtk/dcmqrscp.cfg").read_text()
    # The lines the sample tells an administrator to uncomment, open to ANY peer.
    for title in ("READWRITE", "READ"):
        assert re.search(rf"^#{title}\s+\S+\s+RW?\s+\(.*\)\s+ANY\s*$", sample, re.M), title
        assert "/etc/dcmtk/dcmqrscp.cfg" in by_value(title).source


def test_orthanc_default_matches_the_installed_package() -> None:
    _require("/etc/orthanc/orthanc.json")
    assert '"DicomAet" : "ORTHANC"' in Path("/etc/orthanc/orthanc.json").read_text()


# --- user files ----------------------------------------------------------------


def write(tmp_path: Path, name: str, content: str | bytes) -> Path:
    path = tmp_path / name
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content, encoding="utf-8")
    return path


def test_plain_text_file(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "titles.txt",
        "# our PACS\n\nMAIN_PACS\n  ARCHIVE 2  \n\t# indented comment\nMAIN_PACS\nRIS-GW\n",
    )
    titles = load_ae_titles(path)
    assert [t.value for t in titles] == ["MAIN_PACS", "ARCHIVE 2", "RIS-GW"]
    assert titles[0].source == f"{path}:3"
    assert titles[0].role == "user list"


def test_toml_file_by_suffix_and_by_content(tmp_path: Path) -> None:
    body = (
        "# site list\n"
        "[[title]]\n"
        'value = "MAIN_PACS"\n'
        'product = "Vendor X archive"\n'
        "\n"
        "[[title]]\n"
        'value = "BACKUP"\n'
    )
    for name in ("titles.toml", "titles.conf"):
        titles = load_ae_titles(write(tmp_path, name, body))
        assert [t.value for t in titles] == ["MAIN_PACS", "BACKUP"]
        assert titles[0].product == "Vendor X archive"
        assert titles[1].product == "user"
        assert titles[1].source.endswith(f"{name}:7")


def test_the_packaged_file_is_a_valid_user_file() -> None:
    packaged = Path(__file__).parents[2] / "exposcan" / "data" / "ae_titles.toml"
    assert load_ae_titles(packaged) == stock_titles()


@pytest.mark.parametrize(
    ("content", "line", "problem"),
    [
        ("OK\nTHIS_TITLE_IS_TOO_LONG\n", 2, "longer than 16"),
        ("OK\n\n# c\nBACK\\SLASH\n", 4, "backslash"),
        ("ÄRZTE\n", 1, "printable ASCII"),
        ("OK\nTAB\tINSIDE\n", 2, "printable ASCII"),
        ("OK\nBEL\x07\n", 2, "printable ASCII"),
    ],
)
def test_bad_plain_titles_name_file_and_line(
    tmp_path: Path, content: str, line: int, problem: str
) -> None:
    path = write(tmp_path, "titles.txt", content)
    with pytest.raises(OptionError) as caught:
        load_ae_titles(path)
    message = str(caught.value)
    assert message.startswith(f"{path}: line {line}: ")
    assert problem in message
    assert "\n" not in message


@pytest.mark.parametrize(
    ("content", "line", "problem"),
    [
        (
            '[[title]]\nvalue = "OK"\n\n[[title]]\nproduct = "x"\nvalue = "WAY_TOO_LONG_TITLE"\n',
            6,
            "longer",
        ),
        ('[[title]]\nvalue = "OK"\n[[title]]\nvalue = "A\\\\B"\n', 4, "backslash"),
        ('[[title]]\nvalue = "OK"\ncolour = "red"\n', 2, "unknown key 'colour'"),
        ('[[title]]\nproduct = "x"\n', 1, "needs a string 'value'"),
        ('[[title]]\nvalue = "OK"\nrole = ""\n', 2, "'role' must be"),
        ('[[title]]\nvalue = "OK"\nvalue = "AGAIN"\n', 3, "invalid TOML"),
        ("[[title]]\nvalue = OK\n", 2, "invalid TOML"),
        ('stray = 1\n[[title]]\nvalue = "OK"\n', 1, "unknown key 'stray'"),
    ],
)
def test_bad_toml_titles_name_file_and_line(
    tmp_path: Path, content: str, line: int, problem: str
) -> None:
    path = write(tmp_path, "titles.toml", content)
    with pytest.raises(OptionError) as caught:
        load_ae_titles(path)
    message = str(caught.value)
    assert message.startswith(f"{path}: line {line}: "), message
    assert problem in message
    assert "\n" not in message


@pytest.mark.parametrize("content", ["", "# only a comment\n\n   \n"])
def test_a_file_without_titles_is_an_error(tmp_path: Path, content: str) -> None:
    path = write(tmp_path, "titles.txt", content)
    with pytest.raises(OptionError, match="no AE titles"):
        load_ae_titles(path)


def test_unreadable_files(tmp_path: Path) -> None:
    with pytest.raises(OptionError, match="cannot read AE title file"):
        load_ae_titles(tmp_path / "missing.txt")
    with pytest.raises(OptionError, match="line 2: not UTF-8"):
        load_ae_titles(write(tmp_path, "latin1.txt", b"OK\n\xc4RZTE\n"))
    with pytest.raises(OptionError, match="larger than"):
        load_ae_titles(write(tmp_path, "big.txt", b"A\n" * (MAX_FILE_BYTES // 2 + 1)))


def test_too_many_titles(tmp_path: Path) -> None:
    lines = "".join(f"T{i}\n" for i in range(MAX_TITLES + 1))
    with pytest.raises(OptionError, match=f"line {MAX_TITLES + 1}: more than {MAX_TITLES}"):
        load_ae_titles(write(tmp_path, "many.txt", lines))


# --- random titles -----------------------------------------------------------


def test_random_titles_are_valid_and_distinct() -> None:
    titles = [random_ae_title() for _ in range(1000)]
    assert len(set(titles)) == len(titles)
    stock = {t.value for t in stock_titles()}
    for title in titles:
        assert len(title) == 16
        assert set(title) <= set(RANDOM_TITLE_ALPHABET)
        assert ae_title_problem(title) is None
        assert title not in stock


def test_random_titles_follow_the_given_generator() -> None:
    assert random_ae_title(random.Random(7)) == random_ae_title(random.Random(7))
    assert random_ae_title(random.Random(7)) != random_ae_title(random.Random(8))


# --- in a scan -----------------------------------------------------------------


async def test_user_titles_come_before_the_stock_list(scp_factory, write_scope) -> None:
    """A pynetdicom SCP that checks the called title, serving a site title: the user's
    list gets in with the second association; without it the budget is spent on the
    stock titles, in their order, and the verdict is protected."""
    port = scp_factory("SITE-PACS-7", require_called_aet=True)
    scope = write_scope(["127.0.0.1"], [port])
    fast = Limits(per_host_rate=50)

    with_list = ScanOptions(limits=fast, ae_titles=("NOT-THIS-ONE", "SITE-PACS-7"))
    (result,) = (await exposcan.scan(scope, options=with_list)).results
    assert result.exposure is Exposure.ECHO
    assert result.ae_title == "SITE-PACS-7"
    # The random opening, NOT-THIS-ONE, SITE-PACS-7: neither ANY-SCP nor a stock title.
    assert result.attempts == 3

    (result,) = (await exposcan.scan(scope, options=ScanOptions(limits=fast))).results
    assert result.exposure is Exposure.PROTECTED
    assert result.ae_title is None
    assert result.attempts == ScanOptions().ae_attempts
