"""The command line: show, --set, --config, --sweep, and one-line errors with exit code 2."""

import json

import pytest

from jaxopt_course import app, cli, experiments
from jaxopt_course.experiments import config as cfg
from jaxopt_course.results import load_dataset

SMALL = ["--quick", "--set", "seeds=3", "--set", "steps_per_point=40", "--set", "num_records=10"]


def _error(capsys) -> str:
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1, err
    return err


def test_show_lists_every_field(capsys):
    assert cli.main(["show", "p3"]) == 0
    text = capsys.readouterr().out
    for spec in cfg.field_specs(experiments.get("P3").config):
        assert f"  {spec.name} = " in text and spec.help in text
    assert "step_scale = 0.1  [float or tuple[float, ...]; sweep: vmap]" in text
    assert "seeds = 100 (quick: 16)" in text
    assert cli.main(["show", "P3", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)["fields"]
    assert {r["name"]: r["sweep"] for r in rows}["step_scale"] == "vmap"


@pytest.mark.parametrize("argv, words", [
    (["run", "P1", "--seeds", "5"], "P1 does not use --seeds"),
    (["run", "P3", "--set", "no_such_field=1"], "P3 has no field 'no_such_field'; its fields are: degrees"),
    (["run", "P3", "--set", "seeds=abc"], "seeds must be an int, got 'abc'"),
    (["run", "P3", "--set", "step_scale=-1"], "step_scale must be a finite number > 0"),
    (["run", "P3", "--set", "seeds"], "expected FIELD=VALUE"),
    (["run", "P3", "--seeds", str(2**40)], "P3: seeds must be at most"),
    (["run", "P3", "--sweep", "degrees=3,9"], "degrees already holds a list"),
    (["run", "P3", "--sweep", "nope=1,2"], "P3 has no field 'nope'"),
    (["run", "P3", "--config", "/nonexistent/c.toml"], "cannot read config file"),
    (["run", "P3", "P1", "--seeds", "4"], "P1 does not use --seeds"),
    (["run", "all", "--set", "nope=1"], "no chosen experiment has a field 'nope'"),
    (["show", "Z9"], "unknown experiment 'Z9'"),
])
def test_bad_input_is_one_line_and_exit_2(argv, words, capsys, tmp_path):
    assert cli.main(argv + ["--out", str(tmp_path)] if argv[0] == "run" else argv) == 2
    assert words in _error(capsys)
    assert not (tmp_path / "P3").exists(), "nothing runs before every config is checked"


def test_set_config_file_and_sweep_reach_results_json(tmp_path):
    toml = tmp_path.parent / f"{tmp_path.name}.toml"
    toml.write_text('seeds = 2\n[P3]\ndegrees = [3]\nschedules = ["constant", "staircase"]\n')
    argv = ["run", "P3", *SMALL, "--config", str(toml), "--sweep", "step_scale=0.05,0.2", "--out", str(tmp_path / "o")]
    assert cli.main(argv) == 0
    record = json.loads((tmp_path / "o" / "P3" / "results.json").read_text())
    conf = record["config"]
    assert conf["seeds"] == 3  # --set wins over the file
    assert conf["degrees"] == [3] and conf["schedules"] == ["constant", "staircase"]
    assert conf["step_scale"] == [0.05, 0.2] and conf["steps_per_point"] == 40
    data = load_dataset(tmp_path / "o" / "P3" / "data.npz")
    assert data.sizes["step_scale"] == 2 and list(data.step_scale.values) == [0.05, 0.2]
    assert set(record["metrics"]["gap_final_median"]) == {
        f"schedule={s}, step_scale={c}" for s in ("constant", "staircase") for c in ("0.05", "0.2")}


def test_sweep_of_a_shape_field_is_a_loop_of_runs(tmp_path):
    argv = ["run", "P3", *SMALL, "--set", "degrees=3", "--set", "schedules=constant",
            "--sweep", "steps_per_point=20,30", "--out", str(tmp_path)]
    assert cli.main(argv) == 0
    for n in (20, 30):
        record = json.loads((tmp_path / "P3" / f"steps_per_point={n}" / "results.json").read_text())
        assert record["config"]["steps_per_point"] == n


def test_run_all_applies_a_field_only_where_it_exists():
    request = app.Request(flags=(("seeds", 2),), all_ids=True)
    for exp in experiments.all_experiments():
        config, _ = app.configure(exp, request, quick=True)
        has = any(s.name == "seeds" for s in cfg.field_specs(exp.config))
        assert (config.seeds == 2) if has else not hasattr(config, "seeds")


def test_the_course_preset_starts_every_experiment_and_is_recorded(tmp_path, capsys):
    for exp in experiments.all_experiments():
        course = cfg.preset(exp.config, "course", quick=True)
        config, _ = app.configure(exp, app.Request(), quick=True, preset="course")
        assert config == course
        for name, value in cfg.preset_changes(exp.config, "course").items():
            quick_value = getattr(exp.config.quick(), name)
            assert getattr(config, name) == (quick_value if quick_value != getattr(exp.config(), name) else value)
    assert cli.main(["run", "P1", "--quick", "--preset", "course", "--out", str(tmp_path)]) == 0
    record = json.loads((tmp_path / "P1" / "results.json").read_text())
    assert record["preset"] == "course"
    capsys.readouterr()
    assert cli.main(["show", "P1"]) == 0
    assert "preset course: " in capsys.readouterr().out


# ----------------------------------------------------------------------------- from the old P1-P4 CLI tests


def test_list_names_every_p_experiment(capsys):
    assert cli.main(["list"]) == 0
    out = capsys.readouterr().out
    assert all(f"P{i} " in out for i in range(1, 5))


@pytest.mark.parametrize("argv, words", [
    (["run", "P1", "--seeds", "0"], "positive integer"),
    (["run", "P1", "--seed", "-3"], "non-negative"),
    (["frobnicate"], "invalid choice"),
    (["run", "P1", "--preset", "homework"], "invalid choice: 'homework'"),
])
def test_a_flag_argparse_refuses_exits_2(argv, words, capsys):
    with pytest.raises(SystemExit) as exit_info:
        cli.main(argv)
    assert exit_info.value.code == 2 and words in capsys.readouterr().err


def test_an_unknown_experiment_exits_2(capsys, tmp_path):
    assert cli.main(["run", "Z9", "--out", str(tmp_path)]) == 2
    assert "unknown experiment" in _error(capsys)


def test_an_unwritable_output_directory_exits_2(tmp_path, capsys):
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    assert cli.main(["run", "P1", "--out", str(blocker / "sub")]) == 2
    assert "cannot create output directory" in capsys.readouterr().err


def test_a_foreign_output_directory_is_refused(tmp_path, capsys):
    (tmp_path / "thesis.tex").write_text("someone else's work")
    assert cli.main(["run", "P1", "--quick", "--out", str(tmp_path)]) == 2
    assert "did not write" in capsys.readouterr().err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["thesis.tex"]


def test_its_own_output_directory_is_reused(tmp_path):
    assert cli.main(["run", "P1", "--quick", "--out", str(tmp_path)]) == 0
    assert cli.main(["run", "P1", "--quick", "--out", str(tmp_path)]) == 0
    assert (tmp_path / "P1" / "results.json").exists()
