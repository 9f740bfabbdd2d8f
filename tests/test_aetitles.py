"""Called AE titles: the packaged stock list, user lists (TOML or plain text)
with one-line errors, and random probe titles."""

from __future__ import annotations

import random
import shutil
import subprocess
from pathlib import Path

import pynetdicom
import pytest

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
from exposcan.options import ScanOptions

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
    for product_default in ("ORTHANC", "DCM4CHEE", "STORESCP", "CONQUESTSRV1"):
        assert values.index(product_default) < values.index("COMMON")  # sample configs later
    assert values.index("ORTHANC") < 4
    assert {"DICOOGLE-STORAGE", "QRSCP", "ECHOSCP", "PYNETDICOM", "DCMRECV"} <= set(values)


def test_stock_titles_are_loaded_once() -> None:
    assert stock_titles() is stock_titles()


def by_value(value: str) -> StockTitle:
    return next(t for t in stock_titles() if t.value == value)


def test_pynetdicom_defaults_match_the_installed_package() -> None:
    assert pynetdicom.AE().ae_title == by_value("PYNETDICOM").value
    ini = Path(pynetdicom.__file__).parent / "apps" / "qrscp" / "default.ini"
    assert "ae_title: QRSCP" in ini.read_text()
    assert "ANY-SCP" in stock_titles()[0].source


@pytest.mark.skipif(shutil.which("/usr/bin/storescp") is None, reason="needs Debian's dcmtk")
def test_dcmtk_defaults_match_the_installed_package() -> None:
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


@pytest.mark.skipif(not Path("/etc/orthanc/orthanc.json").exists(), reason="needs Orthanc")
def test_orthanc_default_matches_the_installed_package() -> None:
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
    packaged = Path(__file__).parents[1] / "exposcan" / "data" / "ae_titles.toml"
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
