"""Database adapters on the shipped samples and on fixtures written in each database's layout."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from ecgspec.leads import STANDARD_12
from ecgspec.program import load
from ecgspec.records import read_wfdb
from ecgspec.sources import SourceError, label_set, open_source
from tests.helpers import check_text

from .fixtures import CINC, PTBXL_RECORD, REPO, assert_adc_equal, samples, write_code15, write_mimic

SOURCES = REPO / "specs" / "sources.ecg"
RECORDS = samples()


@pytest.fixture(scope="module")
def shipped():
    program = load(SOURCES, root=REPO)
    assert program.ok, [d.message for d in program.diagnostics]
    return program


def test_ptbxl_lists_every_index_row_in_key_order_with_folds_codes_reports_and_demographics(shipped):
    reader = open_source(shipped, "ptbxl_text")
    refs = list(reader.refs())
    assert len(refs) == 521 and reader.skipped == []
    assert [r.key for r in refs] == sorted(r.key for r in refs) and refs[0].key == "00001"
    first = refs[0]
    assert (
        first.patient == "15709" and first.split == "train" and first.codes == {"NORM": 100.0, "LVOLT": 0.0, "SR": 0.0}
    )
    assert first.labels == ("NORM",) and first.report == "sinusrhythmus periphere niederspannung"
    assert first.meta["age"] == 56 and first.meta["sex"] == "Female" and first.meta["date"] == "1984-11-09 09:17:34"
    assert Counter(r.split for r in refs) == {"train": 372, "val": 79, "test": 70}
    assert [r.key for r in reader.refs("test")] == [r.key for r in refs if r.split == "test"]


def test_ptbxl_superclasses_follow_scp_statements_diagnostic_class(shipped):
    sup = label_set(shipped, "superclass")
    assert sup.vocabulary == ("NORM", "MI", "STTC", "CD", "HYP")
    assert sup.map({"IMI": 100.0, "LAFB": 50.0, "SR": 0.0}) == ("MI", "CD")
    assert sup.map({"LVH": 100.0, "NDT": 100.0, "NORM": 0.0}) == ("NORM", "STTC", "HYP")
    sub = label_set(shipped, "subclass")
    assert "IMI" in sub.vocabulary and "LAFB/LPFB" in sub.vocabulary and sub.map({"LAFB": 100}) == ("LAFB/LPFB",)
    assert len(label_set(shipped, "scp").vocabulary) == 71


def test_ptbxl_record_reads_as_the_wfdb_record_with_index_meta_merged(shipped):
    reader = open_source(shipped, "ptbxl")
    ref = next(reader.refs())
    rec = reader.read(ref)
    direct = read_wfdb(PTBXL_RECORD)
    for lead in STANDARD_12:
        np.testing.assert_array_equal(rec.signals[lead], direct.signals[lead])
    assert rec.meta["age"] == 56 and rec.meta["synthetic"] is False and rec.meta["nan_samples"] == {}


def test_cinc_snomed_codes_map_through_the_challenge_tables(shipped):
    reader = open_source(shipped, "cinc2021")
    refs = {r.key: r for r in reader.refs()}
    assert len(refs) == 14 and reader.skipped == []
    assert refs["HR06000"].labels == ("NSR", "TAb") and refs["HR06000"].meta["database"] == "PTB-XL"
    js = refs["JS20000"]
    assert js.labels == ("NSIVCB", "PAC", "STach", "STC") and js.meta["database"] == "Chapman-Shaoxing/Ningbo"
    snomed = label_set(shipped, "snomed")
    assert snomed.map(["164889003", "59118001", "270492004"]) == ("AF", "IAVB", "RBBB")
    assert [r.key for r in open_source(shipped, "csn").refs()] == ["JS20000", "JS20001", "JS20002", "JS20003"]
    rec = reader.read(refs["HR06001"])
    assert_adc_equal(rec.signals, next(d for d in RECORDS if d.name == "HR06001"))


def test_mimic_joins_measurements_and_reports_by_study_in_key_order(tmp_path: Path):
    root = tmp_path / "mimic"
    ids = write_mimic(RECORDS[1:7], root)
    program = check_text(tmp_path, 'import "std/sources.ecg"\n', defines=['mimic_root="mimic"'])
    reader = open_source(program, "mimic")
    refs = list(reader.refs())
    assert [r.key for r in refs] == sorted(s for s, _ in ids) and reader.skipped == []
    by_key = {r.key: r for r in refs}
    first = by_key[ids[0][0]]
    assert first.patient == ids[0][1] and first.report == "Sinus rhythm. Normal ECG."
    m = first.meta
    assert m["rr"] == 800 and m["heart_rate"] == 75.0 and m["pr"] == 130 and m["qrs"] == 94
    assert "qt" not in m and m["p_axis"] == 81 and m["t_axis"] == 55  # t_end 29999: not measured
    assert by_key[ids[2][0]].meta["qt"] == 400 and by_key[ids[2][0]].meta["qtc"] == pytest.approx(441.7, abs=0.1)
    patients = {r.patient: set() for r in refs}
    for r in refs:
        patients[r.patient].add(r.split)
    assert all(len(s) == 1 for s in patients.values())
    for (study, _), d in zip(ids, RECORDS[1:7], strict=True):
        assert_adc_equal(reader.read(by_key[study]).signals, d)


def test_code15_reads_one_hdf5_row_strips_the_zero_padding_and_labels_by_column(tmp_path: Path):
    recs = [d for d in RECORDS if d.fs == 500][:6]
    labels = [{"AF": True}, {}, {"RBBB": True, "1dAVb": True}, {}, {"ST": True}, {"SB": True}]
    ids = write_code15(recs, tmp_path / "code15", labels)
    program = check_text(tmp_path, 'import "std/sources.ecg"\n', defines=['code15_root="code15"'])
    reader = open_source(program, "code15")
    refs = {r.key: r for r in reader.refs()}
    assert list(refs) == sorted(refs, key=int) and len(refs) == 6
    for exam, d, lab in zip(ids, recs, labels, strict=True):
        ref = refs[str(exam)]
        assert ref.labels == tuple(c for c in ("1dAVb", "RBBB", "LBBB", "SB", "ST", "AF") if lab.get(c))
        assert ref.meta["normal_ecg"] == (not lab)
        rec = reader.read(ref)
        assert rec.fs == 400 and rec.n_samples == 4000 and rec.meta["padding"] == [48, 48]
        cut = type(d)(d.name, d.fs, {k: v[:4000] for k, v in d.counts.items()}, d.gain, d.meta)
        assert_adc_equal(rec.signals, cut)


def test_ecgqa_attaches_questions_to_ptbxl_records_and_splits_by_their_folds(tmp_path: Path):
    qa = tmp_path / "ecgqa" / "paraphrased"
    (qa / "train").mkdir(parents=True)
    items = [
        {
            "template_id": 1,
            "question_id": 0,
            "sample_id": 0,
            "question_type": "single-verify",
            "attribute_type": "scp_code",
            "question": "Does this ECG show sinus rhythm?",
            "answer": ["yes"],
            "ecg_id": [1],
            "attribute": ["sinus rhythm"],
        },
        {
            "template_id": 2,
            "question_id": 1,
            "sample_id": 1,
            "question_type": "comparison_consecutive-verify",
            "attribute_type": "scp_code",
            "question": "Is there a change between the two ECGs?",
            "answer": ["no"],
            "ecg_id": [2, 1],
            "attribute": [],
        },
        {
            "template_id": 3,
            "question_id": 2,
            "sample_id": 2,
            "question_type": "single-query",
            "attribute_type": "noise",
            "question": "What noise does this ECG show?",
            "answer": ["none"],
            "ecg_id": [1],
            "attribute": [],
        },
        {
            "template_id": 3,
            "question_id": 3,
            "sample_id": 3,
            "question_type": "single-query",
            "attribute_type": "noise",
            "question": "A record that PTB-XL lacks",
            "answer": ["none"],
            "ecg_id": [999999],
            "attribute": [],
        },
    ]
    (qa / "train" / "00000.json").write_text(json.dumps(items[:2]))
    (qa / "train" / "00001.json").write_text(json.dumps(items[2:]))
    (qa / "train" / "broken.json").write_text("[{")
    program = check_text(tmp_path, 'import "std/sources.ecg"\n', defines=['ecgqa_root="ecgqa"'])
    reader = open_source(program, "ecgqa")
    refs = list(reader.refs())
    assert [r.key for r in refs] == ["00001", "00002"]
    assert [q["question"] for q in refs[0].qa] == ["Does this ECG show sinus rhythm?", "What noise does this ECG show?"]
    assert refs[0].qa[0]["answer"] == ["yes"] and refs[0].labels == ("NORM",) and refs[0].split == "train"
    assert refs[1].qa[0]["ecg_ids"] == [2, 1]
    reasons = " | ".join(s.reason for s in reader.skipped)
    assert "broken.json" in " ".join(s.path for s in reader.skipped) and "999999" in reasons
    rec = reader.read(refs[0])
    assert rec.n_samples == 1000 and rec.meta["synthetic"] is False


def test_a_generic_table_source_reads_numpy_csv_and_wfdb_files(tmp_path: Path):
    d = RECORDS[1]
    root = tmp_path / "db"
    root.mkdir()
    np.save(root / "a.npy", np.stack([d.mv(lead) for lead in STANDARD_12], axis=1))
    np.save(root / "b.npy", np.stack([d.mv(lead) for lead in STANDARD_12], axis=0))  # leads × samples
    from .fixtures import write_csv, write_wfdb

    write_csv(d, root / "c.csv")
    write_wfdb(d, root / "w", "rec")
    (root / "index.csv").write_text(
        "id,path,pid,dx,note\nr1,a.npy,p1,426783006;164934002,first\n"
        "r2,b.npy,p1,426783006,\nr3,w/rec,p2,,third\nr4,../escape.npy,p3,,\n"
    )
    spec = (
        'import "std/sources.ecg"\nsource mine from table {\n  root = "db"\n  index = "index.csv"\n'
        "  key = id\n  file = path\n  patient = pid\n  codes = dx\n  report = note\n  labels = snomed\n"
        "  sample_rate = 500 Hz\n}\n"
    )
    program = check_text(tmp_path, spec)
    reader = open_source(program, "mine")
    refs = list(reader.refs())
    assert [r.key for r in refs] == ["r1", "r2", "r3"] and refs[0].labels == ("NSR", "TAb")
    assert refs[0].report == "first" and refs[0].patient == "p1"
    assert reader.skipped[0].key == "r4" and "inside the root" in reader.skipped[0].reason
    for ref in refs:
        assert_adc_equal(reader.read(ref).signals, d)


def test_synthetic_records_are_marked_everywhere_and_reproducible(tmp_path: Path):
    program = check_text(tmp_path, "synth s {\n  count = 30\n  heart_rate = uniform(50 bpm, 110 bpm)\n}\n")
    reader = open_source(program, "s")
    refs = list(reader.refs())
    assert len(refs) == 30 and all(r.synthetic for r in refs) and refs[0].key == "synth-00000"
    a, b = reader.read(refs[3]), open_source(program, "s").read(refs[3])
    assert a.meta["synthetic"] is True and a.leads == STANDARD_12 and a.n_samples == 5000
    np.testing.assert_array_equal(a.signals["V2"], b.signals["V2"])
    assert 50 <= a.meta["heart_rate"] <= 110


def test_a_root_outside_the_spec_root_is_an_error_unless_under_a_data_root(tmp_path: Path):
    spec = f'source s from cinc {{\n  root = "{CINC[0].parent}"\n}}\n'
    program = check_text(tmp_path / "spec", spec)
    with pytest.raises(SourceError) as exc:
        open_source(program, "s")
    d = exc.value.diagnostic
    assert d.pos.line == 2 and "outside the spec root" in d.message and "--data-root" in d.hint
    reader = open_source(program, "s", data_roots=[CINC[0].parent.parent])
    assert len(list(reader.refs())) == 14
    escape = check_text(tmp_path / "spec2", 'source s from cinc {\n  root = "../elsewhere"\n}\n')
    with pytest.raises(SourceError, match="outside the spec root"):
        open_source(escape, "s")


def test_a_missing_root_or_index_points_at_the_setting(tmp_path: Path):
    program = check_text(tmp_path, 'let where = "nowhere"\nsource s from ptbxl {\n  root = where\n}\n')
    with pytest.raises(SourceError) as exc:
        open_source(program, "s")
    assert exc.value.diagnostic.pos.line == 3 and "does not exist" in exc.value.diagnostic.message
    (tmp_path / "db").mkdir()
    program = check_text(tmp_path, 'source s from ptbxl {\n  root = "db"\n  index = "db.csv"\n}\n')
    with pytest.raises(SourceError) as exc:
        open_source(program, "s")
    assert exc.value.diagnostic.pos.line == 3 and "db.csv does not exist" in exc.value.diagnostic.message


def test_an_unknown_split_is_a_source_error_with_a_suggestion(shipped):
    with pytest.raises(SourceError) as exc:
        list(open_source(shipped, "ptbxl").refs("tset"))
    assert exc.value.diagnostic.hint == "did you mean 'test'?"
