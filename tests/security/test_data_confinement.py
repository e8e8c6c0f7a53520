"""Confinement of the data a spec reads, with symbolic links resolved.

A spec is someone else's data: a `data -> /outside` link inside the spec folder, or a record file
linked to a file outside (`x.hea -> /etc/shadow`), must not carry a build out of the spec root and
the data roots the person running ecgspec named. The root is refused with a located error; a
linked record file is skipped and reported, never opened, and nothing of what it points at
reaches the output. A data root given on the command line may itself be a link.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest

from ecgspec.cli import main
from ecgspec.sources import SourceError, open_source
from tests.build.conftest import MINI
from tests.helpers import REPO, check_text

CINC = REPO / "data" / "samples" / "cinc2021"
MARKER = "SECRET-7f3a-DO-NOT-PRINT"


def _copy(names: list[str], dest: Path) -> Path:
    dest.mkdir(parents=True, exist_ok=True)
    for name in names:
        for f in CINC.glob(name + ".*"):
            shutil.copy(f, dest / f.name)
    return dest


def _everything(folder: Path) -> bytes:
    return b"".join(p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file())


def test_a_source_root_linked_outside_the_spec_root_is_refused_unless_a_data_root_holds_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    outside = _copy(["HR06000", "HR06001"], tmp_path / "outside" / "db")
    spec_root = tmp_path / "spec"
    spec_root.mkdir()
    (spec_root / "data").symlink_to(outside, target_is_directory=True)
    text = 'source s from cinc {\n  root = "data"\n}\n'
    program = check_text(spec_root, text, name="s.ecg")

    with pytest.raises(SourceError) as exc:
        open_source(program, "s")
    d = exc.value.diagnostic
    assert d.pos.line == 2 and d.code == "data-path-escape"
    assert "symbolic link" in d.message and "--data-root" in (d.hint or "")

    # `ecgspec sources` prints it at the setting, and exits 1.
    monkeypatch.chdir(spec_root)
    assert main(["sources", "s.ecg"]) == 1
    err = capsys.readouterr().err
    assert "s.ecg:2:" in err and "outside the spec root" in err

    # A data root names the folder: it may be given as a link, and live anywhere.
    link = tmp_path / "elsewhere" / "datasets"
    link.parent.mkdir()
    link.symlink_to(tmp_path / "outside", target_is_directory=True)
    for root in (link, tmp_path / "outside"):
        reader = open_source(program, "s", data_roots=[root])
        assert [r.key for r in reader.refs()] == ["HR06000", "HR06001"]
        assert reader.read(next(iter(reader.refs()))).n_samples == 5000
    # …and a spec may name a file under it through the link.
    via = check_text(spec_root / "b", f'source s from cinc {{\n  root = "{link}/db"\n}}\n')
    assert len(list(open_source(via, "s", data_roots=[link]).refs())) == 2
    assert main(["sources", "s.ecg", "--data-root", str(link)]) == 0
    assert "2 records" in capsys.readouterr().out


def test_a_record_file_linked_outside_is_skipped_reported_and_never_read(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    ws = tmp_path / "ws"
    shutil.copytree(REPO / "templates" / "instruct", ws / "templates" / "instruct")
    db = _copy(["HR06000", "HR06001", "JS20000"], ws / "data" / "cinc2021")
    (ws / "mini.ecg").write_text(MINI, encoding="utf-8")
    # Outside the spec root: a "secret" that would even parse as a header, and a folder of records.
    secret_dir = _copy(["HR06002", "HR06003"], tmp_path / "secret")
    secret = secret_dir / "shadow.hea"
    secret.write_text(
        f"HR06004 12 500 5000\n# {MARKER}\n"
        + (CINC / "HR06004.hea").read_text().split("\n", 1)[1]
        + f"# Dx: 426783006\n# Note: {MARKER}\n"
    )
    shutil.copy(CINC / "HR06004.mat", db / "HR06004.mat")
    (db / "HR06004.hea").symlink_to(secret)  # the header is a link leading out
    shutil.copy(CINC / "HR06005.hea", db / "HR06005.hea")
    (db / "HR06005.mat").symlink_to(secret_dir / "HR06002.mat")  # the signal file is
    (db / "more").symlink_to(secret_dir, target_is_directory=True)  # a folder of records is

    monkeypatch.chdir(ws)
    code = main(["build", "mini.ecg", "-o", "out", "--no-progress", "-j", "1"])
    stdout, stderr = capsys.readouterr()
    assert code == 0, stderr
    report = json.loads((ws / "out" / "build.json").read_text())["corpora"]["mini"]
    index = {e["record"]: e for e in report["broken_index_entries"]}
    assert "HR06004" in index and index["HR06004"]["path"].endswith("HR06004.hea")
    assert "symbolic link" in index["HR06004"]["reason"]
    failed = {f["record"]: f for f in report["failed"]}
    assert "HR06005" in failed and "HR06005.mat" in failed["HR06005"]["reason"]
    assert "symbolic link" in failed["HR06005"]["reason"]
    manifest = json.loads((ws / "out" / "manifests" / "mini.json").read_text())
    records = {item["id"].split("-")[1] for item in manifest}
    assert {"HR06000", "HR06001", "JS20000"} <= records
    assert not {"HR06002", "HR06003", "HR06004", "HR06005"} & records
    assert MARKER not in stdout + stderr
    assert MARKER.encode() not in _everything(ws / "out")

    # `ecgspec sources` reports the same, without the marker and without the target's name.
    assert main(["sources", "mini.ecg", "--json"]) == 0
    stdout, stderr = capsys.readouterr()
    assert MARKER not in stdout + stderr and "shadow" not in stdout
    skipped = json.loads(stdout)["sources"][0]["skipped"]
    assert [s["key"] for s in skipped if "symbolic link" in s["reason"]] == ["HR06004"]


def test_symbolic_links_inside_the_root_are_followed_when_they_stay_inside(tmp_path: Path) -> None:
    db = _copy(["HR06000"], tmp_path / "store")
    root = tmp_path / "db"
    root.mkdir()
    for f in db.iterdir():
        os.symlink(f, root / f.name)  # a deduplicated copy: links to files under the spec root
    program = check_text(tmp_path, 'source s from cinc {\n  root = "db"\n}\n')
    reader = open_source(program, "s")
    refs = list(reader.refs())
    assert [r.key for r in refs] == ["HR06000"] and not reader.skipped
    assert reader.read(refs[0]).n_samples == 5000


def test_every_reader_refuses_a_record_file_linked_outside(tmp_path: Path) -> None:
    """Format exports (listed by walking the root), .npy and WFDB files named by an index: a link
    that leads out is skipped or refused, named by the link, and the file is never opened."""
    from ecgspec.records import RecordError, read_wfdb

    secret = tmp_path / "outside"
    _copy(["HR06000"], secret)
    rec = read_wfdb(secret / "HR06000")
    header = ",".join(rec.signals)
    rows = "\n".join(",".join(f"{rec.signals[k][i] * 1000:g}" for k in rec.signals) for i in range(5000))
    (secret / "export.csv").write_text(f"{header}\n{rows}\n# {MARKER}\n")
    import numpy as np

    np.save(secret / "arr.npy", np.stack(list(rec.signals.values()), axis=1))
    spec_root = tmp_path / "spec"
    db = _copy(["HR06001"], spec_root / "db")
    (db / "good.csv").write_text((secret / "export.csv").read_text().rsplit("#", 1)[0])
    (db / "linked.csv").symlink_to(secret / "export.csv")
    (db / "arr.npy").symlink_to(secret / "arr.npy")
    for f in ("HR06000.hea", "HR06000.mat"):
        (db / f).symlink_to(secret / f)
    (db / "records.index").write_text("id,file\nHR06000,HR06000\nHR06001,HR06001\narr,arr.npy\n")

    program = check_text(
        spec_root,
        'import "std/formats/csv.ecg"\nsource exports from csv_500hz_uv {\n  root = "db"\n}\n'
        'source indexed from table {\n  root = "db"\n  index = "records.index"\n  key = "id"\n  file = "file"\n'
        "  sample_rate = 500 Hz\n}\n",
    )
    exports = open_source(program, "exports")
    keys = [r.key for r in exports.refs()]
    assert "linked" not in keys and "good" in keys
    (skip,) = [s for s in exports.skipped if s.key == "linked"]
    assert skip.path.endswith("linked.csv") and "symbolic link" in skip.reason

    indexed = open_source(program, "indexed")
    outcome: dict[str, str] = {}
    for ref in indexed.refs():
        try:
            outcome[ref.key] = f"read {indexed.read(ref).n_samples}"
        except RecordError as exc:
            outcome[ref.key] = str(exc)
    assert outcome["HR06001"] == "read 5000"
    assert "HR06000.hea" in outcome["HR06000"] and "symbolic link" in outcome["HR06000"]
    assert "arr.npy" in outcome["arr"] and "symbolic link" in outcome["arr"]
    assert all(MARKER not in v and "outside/" not in v for v in outcome.values())
