"""tools/claims.py and the `claims` study of tools/reproduce.py: design, paired claims, report."""
import json
import os
import sys

import pytest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "tools"))
import claims  # noqa: E402
import reproduce  # noqa: E402


def result(top_1: dict, top_10: float = 0.5) -> dict:
    """An evaluate.py result with Top-1 per test re_scale and a fixed Rec/Top-10."""
    rows = [{"re_scale": r, "rec": 0.5, "top_1": v, "top_10": top_10, "top_50": 0.9}
            for r, v in top_1.items()]
    return {"settings": rows, "greedy": False, "seed": 0, "checkpoint": "ckpt-9",
            "chance": {"rec": 0.25, "top_1": 0.001, "top_10": 0.01, "top_50": 0.05}}


def test_the_study_trains_in_seed_order_and_the_2x2_first():
    names = [r.name for r in reproduce.STUDIES["claims"].runs]
    assert names[:4] == ["g9_rs0.3_s0", "g9_rs0_s0", "g1_rs0.3_s0", "g1_rs0_s0"]
    assert names[4:8] == [n.replace("_s0", "_s1") for n in names[:4]]
    assert names[12:] == ["enc64_s0", "enc256_s0", "enc64_s1", "enc256_s1", "enc64_s2", "enc256_s2"]
    assert len(set(names)) == 18
    study = reproduce.STUDIES["claims"]
    assert "num_steps=3000" in study.hparams and "preset=small" in study.hparams
    runs = {r.name: r.hparams for r in study.runs}
    assert runs["g1_rs0_s2"] == "num_graphs=1,re_scale=0.0,seed=2"
    assert runs["enc256_s1"] == "re_scale=0.3,enc_rnn_size=256,seed=1"


def test_a_drop_claim_compares_what_each_arm_loses_under_disruption():
    claim = claims.Claim("d", "q", "robust", "fragile", 0.3, drop=True)
    # robust: 0.6 -> 0.5 (loses 0.1); fragile: 0.7 -> 0.4 (loses 0.3). Better by 0.2 in every seed.
    results = {}
    for seed, shift in enumerate((0.0, 0.05, -0.05)):
        results[f"robust_s{seed}"] = result({0.0: 0.6 + shift, 0.3: 0.5 + shift})
        results[f"fragile_s{seed}"] = result({0.0: 0.7 + shift, 0.3: 0.4 + shift})
    rows = {r["metric"]: r for r in claims.claim_rows((claim,), results)}
    assert rows["top_1"]["difference"] == pytest.approx(0.2)
    assert rows["top_1"]["ci95"] == pytest.approx([0.2, 0.2])
    assert rows["top_1"]["verdict"] == "holds"
    assert rows["top_10"]["difference"] == pytest.approx(0.0)  # Top-10 does not move at all
    assert "knn_acc" not in rows  # no model measured it


def test_claims_pair_only_the_seeds_both_arms_have():
    claim = claims.CLAIMS[0]  # 9 vs 1 graph, trained 0.3, at test 0
    results = {"g9_rs0.3_s0": result({0.0: 0.3}), "g1_rs0.3_s0": result({0.0: 0.1}),
               "g9_rs0.3_s1": result({0.0: 0.4})}  # seed 1 of the 1-graph arm not trained yet
    row = next(r for r in claims.claim_rows((claim,), results) if r["metric"] == "top_1")
    assert row["seeds"] == [0] and row["difference"] == pytest.approx(0.2)
    assert row["ci95"] is None and row["verdict"] == "cannot tell"


def test_a_fresh_clone_skips_every_committed_model_and_writes_the_report(tmp_path, monkeypatch):
    """With every model's result committed, the study trains nothing and reports the claims."""
    monkeypatch.setattr(reproduce, "REPO", str(tmp_path))
    monkeypatch.setattr(reproduce, "data_dir", lambda study: "data")
    monkeypatch.setattr(reproduce, "stage", lambda *a: pytest.fail("a committed model was trained again"))
    study = reproduce.STUDIES["claims"]
    out = tmp_path / "results" / "claims"
    out.mkdir(parents=True)
    for i, run in enumerate(study.runs):
        better = 0.1 if run.name.startswith("g9") else 0.0  # 9 graphs always 10 points ahead
        done = result({0.0: 0.3 + better + 0.01 * i, 0.1: 0.3, 0.3: 0.2})
        (out / f"{run.name}.json").write_text(json.dumps(
            dict(done, run_hparams=f"{study.hparams},{run.hparams}", commit="abc1234")))
    # the shipped model's result and its pack are committed too
    shipped = dict(result({0.0: 0.9}), run_hparams=reproduce.ship_hparams(study))
    (out / "shipped.json").write_text(json.dumps(shipped))
    (tmp_path / study.ship.out).mkdir(parents=True)
    (tmp_path / study.ship.out / "ckpt-9.index").write_text("")
    assert reproduce.main(["--study", "claims"]) == 0
    summary = json.loads((out / "results.json").read_text())
    assert len(summary["models"]) == 18
    model = summary["models"]["g1_rs0_s2"]
    assert (model["seed"], model["arm"], model["commit"]) == (2, "g1_rs0", "abc1234")
    assert model["hparams"].endswith("num_graphs=1,re_scale=0.0,seed=2")
    graphs = next(c for c in summary["claims"] if c["claim"] == "graphs_rs0.3" and c["metric"] == "top_1")
    assert graphs["difference"] == pytest.approx(0.1 - 0.02) and graphs["verdict"] == "holds"
    assert graphs["ci95"][0] > 0
    text = (out / "results.md").read_text()
    assert "18 of 18 models evaluated" in text and "| 9 graphs, trained re_scale 0 | 0.3 | 3 |" in text
    assert (out / "errorbars.png").stat().st_size > 5000


def test_report_rewrites_the_summary_from_committed_results_and_trains_nothing(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(reproduce, "REPO", str(tmp_path))
    monkeypatch.setattr(reproduce, "stage", lambda *a: pytest.fail("--report trained or evaluated"))
    monkeypatch.setattr(reproduce, "data_dir", lambda study: pytest.fail("--report needs no data"))
    study = reproduce.STUDIES["claims"]
    out = tmp_path / "results" / "claims"
    out.mkdir(parents=True)
    first = study.runs[0]
    (out / f"{first.name}.json").write_text(json.dumps(
        dict(result({0.0: 0.3, 0.1: 0.25, 0.3: 0.2}), run_hparams=f"{study.hparams},{first.hparams}")))
    (out / "g9_rs0_s0.json").write_text(json.dumps(  # made with other hparams: not this study's model
        dict(result({0.0: 0.9}), run_hparams="preset=small,num_steps=10")))
    assert reproduce.main(["--study", "claims", "--report"]) == 0
    summary = json.loads((out / "results.json").read_text())
    assert list(summary["models"]) == [first.name]
    assert "1 of 18 models evaluated" in capsys.readouterr().out
    assert (out / "errorbars.png").exists()


def cells(line: str) -> int:
    """Cells of one markdown table line."""
    return line.strip().strip("|").count("|") + 1


@pytest.mark.parametrize("evaluated", [False, True])
def test_report_tables_have_as_many_cells_in_every_line_as_in_the_header(evaluated):
    results = {"g9_rs0.3_s0": result({0.0: 0.3, 0.1: 0.25, 0.3: 0.2})} if evaluated else {}
    arms = claims.arms_markdown(claims.arm_rows(claims.ARMS, results, (0.0, 0.1, 0.3))).splitlines()
    table = claims.claims_markdown(claims.claim_rows(claims.CLAIMS, results)).splitlines()
    for lines in (arms, table):
        assert {cells(line) for line in lines} == {cells(lines[0])}
    # Metric columns appear once a model is evaluated: Rec, Top-1, Top-10 (no kNN acc: not measured).
    assert cells(arms[0]) == (6 if evaluated else 3)
    if evaluated:
        assert "| 9 graphs, trained re_scale 0.3 (SketchGloc) | 0 | 1 | 50.0 | 30.0 | 50.0 |" in arms


def test_the_readme_summary_shows_each_claims_difference_interval_and_verdict():
    # 9 vs 1 graph (trained 0.3): Top-1 0.1 ahead in all 3 seeds; trained 0.3 vs 0: one seed only.
    results = {}
    for seed in claims.SEEDS:
        results[f"g9_rs0.3_s{seed}"] = result({0.0: 0.4 + 0.01 * seed, 0.3: 0.3}, top_10=0.6)
        results[f"g1_rs0.3_s{seed}"] = result({0.0: 0.3 + 0.01 * seed, 0.3: 0.3}, top_10=0.6)
    results["g9_rs0_s0"] = result({0.0: 0.5, 0.3: 0.25})
    rows = claims.claim_rows(claims.CLAIMS, results)
    lines = claims.readme_markdown(claims.CLAIMS, rows, 7, 18).splitlines()
    assert lines[0].startswith("**7 of 18 models evaluated.**")
    table = lines[2:]
    assert table[0] == "| claim | seeds | Top-1 | Top-10 | Rec |" and len(table) == 2 + len(claims.CLAIMS)
    assert {cells(line) for line in table} == {5}
    by_claim = dict(zip([c.name for c in claims.CLAIMS], table[2:]))
    assert by_claim["graphs_rs0.3"] == ("| 9 vs 1 graph (both trained 0.3), test 0 | 3 | "
                                        "+10.0 [+10.0, +10.0] holds | +0.0 [+0.0, +0.0] cannot tell | "
                                        "+0.0 [+0.0, +0.0] cannot tell |")
    assert "| 1 | +5.0 (1 seed) | +10.0 (1 seed) | +0.0 (1 seed) |" in by_claim["reorg_9"]
    assert by_claim["graphs_rs0"].endswith("| 0 | - | - | - |")


def test_the_study_rewrites_only_its_block_of_the_readme(tmp_path, monkeypatch):
    monkeypatch.setattr(reproduce, "REPO", str(tmp_path))
    readme = tmp_path / "README.md"
    assert not reproduce.update_readme("claims", "new\n")  # no README: nothing written
    assert not readme.exists()
    begin, end = reproduce.readme_markers("claims")
    readme.write_text(f"# Title\n\n{begin}\nold table\n{end}\n\nafter\n")
    assert reproduce.update_readme("claims", "| a | b |\n")
    expected = f"# Title\n\n{begin}\n| a | b |\n{end}\n\nafter\n"
    assert readme.read_text() == expected
    assert reproduce.update_readme("claims", "| a | b |\n") and readme.read_text() == expected
    readme.write_text(f"{begin}\nno end marker\n")
    assert not reproduce.update_readme("claims", "x\n")
    assert readme.read_text() == f"{begin}\nno end marker\n"


def test_the_full_data_study_is_the_same_design_on_its_downloaded_folder(tmp_path, monkeypatch, capsys):
    small, full = reproduce.STUDIES["claims"], reproduce.STUDIES["claims_full"]
    assert full.runs == small.runs and full.classifier_from == small.classifier_from
    assert full.hparams == small.hparams.replace("num_steps=3000", "num_steps=10000")
    monkeypatch.setattr(reproduce, "REPO", str(tmp_path))
    with pytest.raises(SystemExit) as stop:
        reproduce.data_dir(full)
    message = str(stop.value.code)
    assert message.startswith("error: datasets/pig.npz does not exist")
    assert 'download_quickdraw.py --categories "pig,face,radio,alarm clock" --out datasets' in message
    (tmp_path / "datasets").mkdir()
    for category in full.categories:
        (tmp_path / "datasets" / f"{category}.npz").write_bytes(b"")
    assert reproduce.data_dir(full) == str(tmp_path / "datasets")
    (tmp_path / "data").mkdir()  # the bundled folder never stands in for the full data
    assert reproduce.data_dir(full) == str(tmp_path / "datasets")



def encoder_results(top_1: dict, rec: dict | None = None) -> dict:
    """Results of the three encoder arms: per size, Top-1 (and Rec) at test 0 for seeds 0, 1, 2."""
    arms = dict(claims.ENCODER_SIZES)
    out = {}
    for size, values in top_1.items():
        for seed, value in enumerate(values):
            r = result({0.0: value})
            r["settings"][0]["rec"] = (rec or {}).get(size, [0.5] * 3)[seed]
            out[claims.run_name(arms[size], seed)] = r
    return out


def winners(choice: dict) -> list:
    return [(c["larger"], c["smaller"], c["winner"]) for c in choice["comparisons"]]


def test_the_encoder_rule_keeps_the_fastest_size_when_nothing_separates_the_sizes():
    # The differences change sign across seeds.
    choice = claims.encoder_choice(encoder_results({64: [0.40, 0.44, 0.37], 128: [0.42, 0.40, 0.39],
                                                    256: [0.38, 0.45, 0.40]}))
    assert choice["size"] == 64 and choice["complete"] and choice["beaten"] == []
    assert winners(choice) == [(128, 64, None), (256, 64, None), (256, 128, None)]


def test_the_encoder_rule_takes_a_size_that_clearly_beats_every_other():
    # 256 is 10 points of Top-1 above 64 at every seed and 8-14 above 128; 128 and 64 are not separable.
    choice = claims.encoder_choice(encoder_results({64: [0.40, 0.44, 0.37], 128: [0.42, 0.40, 0.39],
                                                    256: [0.50, 0.54, 0.47]}))
    assert choice["size"] == 256 and choice["beaten"] == [64, 128]
    top_1 = next(r for r in choice["comparisons"][1]["rows"] if r["metric"] == "top_1")
    assert top_1["difference"] == pytest.approx(0.10) and top_1["verdict"] == "holds"
    assert "The rule picks encoder **256** (all seeds in)" in claims.encoder_markdown(choice)


def test_the_encoder_rule_prefers_the_faster_of_two_sizes_nothing_separates():
    # 256 beats 64 by 10 points at every seed, but 128 is separable from neither: 128 is the pick.
    choice = claims.encoder_choice(encoder_results({64: [0.40, 0.44, 0.37], 128: [0.50, 0.40, 0.45],
                                                    256: [0.50, 0.54, 0.47]}))
    assert winners(choice) == [(128, 64, None), (256, 64, 256), (256, 128, None)]
    assert choice["size"] == 128 and choice["beaten"] == [64]


def test_a_size_clearly_worse_on_another_metric_does_not_beat_the_faster_one():
    # 128 wins Top-1 by 10 points but loses Rec by 5 at every seed; 256 is like 64.
    same = [0.40, 0.44, 0.37]
    choice = claims.encoder_choice(encoder_results(
        {64: same, 128: [v + 0.1 for v in same], 256: same},
        rec={64: [0.50, 0.52, 0.47], 128: [0.45, 0.47, 0.42], 256: [0.50, 0.52, 0.47]}))
    verdicts = {r["metric"]: r["verdict"] for r in choice["comparisons"][0]["rows"]}
    assert verdicts["top_1"] == "holds" and verdicts["rec"] == "does not hold"
    assert choice["size"] == 64 and choice["beaten"] == []


def test_a_smaller_size_that_clearly_wins_beats_the_larger_one():
    choice = claims.encoder_choice(encoder_results({64: [0.50, 0.54, 0.47], 128: [0.40, 0.44, 0.37],
                                                    256: [0.40, 0.44, 0.38]}))
    assert choice["size"] == 64 and choice["beaten"] == [128, 256]


def test_the_encoder_rule_says_when_a_seed_is_missing():
    results = encoder_results({64: [0.40, 0.44, 0.37], 128: [0.42, 0.40, 0.39], 256: [0.52, 0.54, 0.49]})
    del results["enc64_s2"]
    choice = claims.encoder_choice(results)
    assert not choice["complete"] and "not final" in claims.encoder_markdown(choice)


def test_the_speed_line_orders_the_sizes_and_is_empty_without_a_benchmark(tmp_path):
    path = tmp_path / "encoder_speed.json"
    assert claims.speed_markdown(str(path)) == ""
    variants = [{"extra": "", "sketches_per_sec": 88.4},
                {"extra": "enc_rnn_size=64", "sketches_per_sec": 101.7},
                {"extra": "enc_rnn_size=256", "sketches_per_sec": 56.6}]
    path.write_text(json.dumps({"baseline_enc_rnn_size": 128, "result": {"variants": variants}}))
    assert claims.speed_markdown(str(path)).endswith(
        "encoder 64: 101.7, encoder 128: 88.4, encoder 256: 56.6.\n")
    # the baseline is the size recorded with the bench, not today's preset
    path.write_text(json.dumps({"baseline_enc_rnn_size": 256, "result": {"variants": variants[:2]}}))
    assert claims.speed_markdown(str(path)).endswith("encoder 64: 101.7, encoder 256: 88.4.\n")
