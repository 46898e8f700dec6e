"""The finding ledger's framework: rules read results files, verdicts and origins are computed."""

import json

import pytest

from lesionmap import ledger


@ledger.rule("demo_chapter")
def _demo_rules(results):
    value = results["hazard_ratio"]
    return [
        ledger.Finding(
            "hr_above_one",
            "Liver progresses faster than abdomen",
            "HR > 1",
            f"{value:.2f}",
            ledger.origin_for(results, "emergent"),
            value > 1,
            how="organ growth rates",
        )
    ]


def _write(tmp_path, cohort, hazard_ratio):
    (tmp_path / "demo_chapter.json").write_text(json.dumps({"cohort": cohort, "hazard_ratio": hazard_ratio}))


def test_findings_are_computed_from_the_results_file(tmp_path):
    _write(tmp_path, "mcrc", 1.4)
    items = ledger.findings(tmp_path, "demo_chapter")
    assert [f.holds for f in items] == [True]
    assert items[0].origin == "emergent"
    _write(tmp_path, "mcrc", 0.8)
    assert ledger.findings(tmp_path, "demo_chapter")[0].holds is False


def test_user_data_is_real_data_not_input_or_emergent(tmp_path):
    _write(tmp_path, "/data/my-trial", 1.4)
    assert ledger.findings(tmp_path, "demo_chapter")[0].origin == "real data"


def test_saved_ledgers_are_gathered_with_their_chapter(tmp_path):
    _write(tmp_path, "mcrc", 0.8)
    ledger.save(tmp_path, "demo_chapter", ledger.findings(tmp_path, "demo_chapter"))
    table = ledger.load_all(tmp_path)
    assert table[["chapter", "key", "holds"]].values.tolist() == [["demo_chapter", "hr_above_one", False]]
    assert ledger.summary(ledger.findings(tmp_path, "demo_chapter"))["not_held"] == 1
    assert ledger.frame(ledger.findings(tmp_path, "demo_chapter"))["Verdict"].tolist() == ["does not hold"]


def test_unknown_chapter_and_origin_are_errors(tmp_path):
    _write(tmp_path, "mcrc", 1.0)
    with pytest.raises(KeyError, match="no ledger rules"):
        ledger.findings(tmp_path, "nope") if (tmp_path / "nope.json").write_text("{}") else None
    with pytest.raises(ValueError, match="origin"):
        ledger.Finding("k", "s", "p", "v", "tuned", True)
