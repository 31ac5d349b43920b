"""Same ID, config, seed and precision: bit-identical results.json metrics on the same machine."""

import json

import pytest

from jaxopt_course import cli


@pytest.mark.parametrize("exp_id,extra", [("P3", ["--seeds", "4"]), ("G1", []), ("R1", ["--seeds", "3"])])
def test_same_seed_gives_identical_metrics(exp_id, extra, tmp_path):
    runs = []
    for name in ("a", "b"):
        assert cli.main(["run", exp_id, "--quick", "--seed", "11", *extra, "--out", str(tmp_path / name)]) == 0
        runs.append(json.loads((tmp_path / name / exp_id / "results.json").read_text())["metrics"])
    assert runs[0] == runs[1]


def test_another_seed_gives_other_numbers(tmp_path):
    metrics = []
    for seed in ("1", "2"):
        assert cli.main(["run", "P3", "--quick", "--seeds", "4", "--seed", seed, "--out", str(tmp_path / seed)]) == 0
        metrics.append(json.loads((tmp_path / seed / "P3" / "results.json").read_text())["metrics"])
    assert metrics[0] != metrics[1]
