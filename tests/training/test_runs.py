import json

from attention_perturb.training.runs import resumable, resume_flags, thread_environment


def test_a_run_with_its_config_written_resumes_and_keeps_its_files(tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    (run / "config.json").write_text("{}")
    (run / "model_state_e0_b0.th").write_text("weights")
    assert resumable(run)
    assert resume_flags(run) == ["--recover"]
    assert sorted(path.name for path in run.iterdir()) == ["config.json", "model_state_e0_b0.th"]


def test_a_run_stopped_before_its_config_is_cleared_for_a_fresh_start(tmp_path):
    run = tmp_path / "run"
    (run / "vocabulary").mkdir(parents=True)
    assert not resumable(run)
    assert resume_flags(run) == []
    assert not run.exists()
    assert resume_flags(tmp_path / "never_started") == []


def test_a_finished_run_is_not_resumable(tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    for name in ("config.json", "metrics.json"):
        (run / name).write_text(json.dumps({}))
    (run / "model.tar.gz").write_bytes(b"")
    assert not resumable(run)
    (run / "model.tar.gz").unlink()  # metrics without the archive: the run stopped while archiving
    assert resumable(run)


def test_the_thread_environment_caps_openmp_and_mkl():
    assert thread_environment(3) == {"OMP_NUM_THREADS": "3", "MKL_NUM_THREADS": "3"}
