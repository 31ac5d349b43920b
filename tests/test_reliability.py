"""Nothing wrong without an error: resumes that cannot mix runs, seeds that do not alias,
folders reused only when complete, and one-line errors for bad settings."""

import dataclasses
import json

import pytest

from jaxopt_course import app, checkpoint, cli, distributed, experiments
from jaxopt_course import run as runner

SMALL = ["run", "P3", "--quick", "--set", "degrees=3", "--set", "schedules=constant", "--set", "steps_per_point=30",
         "--set", "num_records=8"]


def _error(capsys) -> str:
    err = capsys.readouterr().err.strip().splitlines()
    return err[-1]


def test_resume_with_another_chunk_size_is_refused(tmp_path, capsys):
    out = ["--out", str(tmp_path)]
    assert cli.main(SMALL + ["--seeds", "8", "--chunk-seeds", "2"] + out) == 0
    chunks = tmp_path / "P3" / ".chunks"
    # Re-create an interrupted run: its chunks of 2 seeds, then resume with chunks of 4.
    policy = checkpoint.Policy(chunks, chunk_seeds=2).prepare()
    exp = experiments.get("P3")
    sets = tuple(a for a in SMALL if "=" in a)
    config, _ = app.configure(exp, app.Request(sets=sets, flags=(("seeds", 8),)), quick=True)
    identity = app.run_identity(exp, config, app.Options(quick=True, out=tmp_path))
    (chunks / "run.json").write_text(json.dumps(identity))
    exp.run(config, runner.seed_key(0), runner.Sweeper(checkpoint=policy))
    assert len(list(chunks.glob("sweep0_chunk*.npz"))) == 4
    (tmp_path / "P3" / "results.json").unlink()
    assert cli.main(SMALL + ["--seeds", "8", "--chunk-seeds", "4", "--resume"] + out) == 2
    assert "different configuration" in _error(capsys)


def test_damaged_chunk_and_run_record_are_one_line_errors(tmp_path, capsys):
    out = ["--out", str(tmp_path)]
    chunks = tmp_path / "P3" / ".chunks"
    chunks.mkdir(parents=True)
    (tmp_path / app.MARKER).touch()
    (chunks / "run.json").write_text("{not json")
    assert cli.main(SMALL + ["--seeds", "2", "--resume"] + out) == 2
    assert "is damaged" in _error(capsys)
    (chunks / "run.json").unlink()
    (chunks / "sweep0_chunk0.npz").write_bytes(b"PK\x03\x04 truncated")
    assert cli.main(SMALL + ["--seeds", "2", "--resume"] + out) == 2
    assert "sweep0_chunk0.npz is damaged" in _error(capsys)


@pytest.mark.parametrize("seed", ["4294967296", "4294967299", "18446744073709551616"])
def test_seeds_beyond_32_bits_are_refused_not_aliased(seed, capsys):
    assert cli.main(SMALL + ["--seed", seed, "--dry-run"]) == 2
    assert "[0, 2^32 - 1]" in _error(capsys)
    assert runner.check_seed(2**32 - 1) == 2**32 - 1
    with pytest.raises(ValueError):
        runner.seed_key(-1)


def test_report_reuses_only_a_complete_set_of_files(tmp_path, capsys):
    argv = ["report", "--quick", "--only", "P1", "--out", str(tmp_path)]
    assert cli.main(argv) == 0
    record = json.loads((tmp_path / "P1" / "results.json").read_text())
    assert set(record["files"]) >= {*record["figures"], "data.npz"}
    png = tmp_path / "P1" / record["figures"][0]
    png.write_bytes(png.read_bytes() + b"\0")  # a figure of another run, next to this run's results.json
    capsys.readouterr()
    assert cli.main(argv) == 0
    assert "reusing" not in capsys.readouterr().err
    assert app.file_hash(png) == json.loads((tmp_path / "P1" / "results.json").read_text())["files"][png.name]


def test_a_rerun_first_drops_the_old_results_and_stale_temp_files(tmp_path, monkeypatch):
    exp = experiments.get("P1")
    out_dir = app.run_experiment(exp, exp.config.quick(), app.Options(quick=True, out=tmp_path))
    (out_dir / ".p1_fits.png.abc.tmp").write_bytes(b"left by a killed write")

    def interrupted(config, key, sweeper):
        assert not (out_dir / "results.json").exists() and not list(out_dir.glob(".*.tmp"))
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        app.run_experiment(dataclasses.replace(exp, run=interrupted), exp.config.quick(),
                           app.Options(quick=True, out=tmp_path))
    assert not (out_dir / ".chunks").exists(), "no skeleton left when nothing can be resumed"


def test_ctrl_c_says_how_to_resume(monkeypatch, capsys, tmp_path):
    def interrupt(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(app, "run_experiment", interrupt)
    assert cli.main(SMALL + ["--out", str(tmp_path)]) == 130
    assert "--resume" in _error(capsys)  # exit code 130 = 128 + SIGINT, as shells report Ctrl-C


@pytest.mark.parametrize("env, words", [
    ({"JAXOPT_COORDINATOR": "garbage"}, "must be HOST:PORT"),
    ({"JAXOPT_COORDINATOR": "nosuchhost.invalid:notaport"}, "must be HOST:PORT"),
    ({"JAXOPT_COORDINATOR": "nosuchhost.invalid:1234"}, "cannot resolve host"),
    ({"JAXOPT_NUM_PROCESSES": "abc"}, "JAXOPT_NUM_PROCESSES must be an integer"),
])
def test_bad_multiprocess_settings_are_refused_before_jax_sees_them(env, words, monkeypatch):
    settings = {"JAXOPT_COORDINATOR": "localhost:1234", "JAXOPT_NUM_PROCESSES": "2", "JAXOPT_PROCESS_ID": "0", **env}
    for name, value in settings.items():
        monkeypatch.setenv(name, value)
    with pytest.raises(ValueError, match=words):
        distributed.settings_from()


def test_unwritable_output_is_one_line(tmp_path, capsys):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    assert cli.main(SMALL + ["--out", str(blocker / ("d" * 300))]) == 2
    assert _error(capsys).startswith("jaxopt-course: error: ")
