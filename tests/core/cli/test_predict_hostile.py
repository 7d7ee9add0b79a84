"""Every hostile file gets its own one-line error from the CLI, and valid oddities get verdicts."""

import re

from core.cli.predict import main
from tests.helpers.hostile_corpus import corpus


def test_cli_rejects_each_hostile_file_with_a_reason(tiny_set, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("STEELSCAN_MODELS_DIR", str(tiny_set.parent))
    monkeypatch.setenv("STEELSCAN_MODEL_SET", tiny_set.name)
    files = corpus()
    for name, (data, _) in files.items():
        (tmp_path / name).write_bytes(data)
    assert main([str(tmp_path / name) for name in files]) == 0
    out, err = capsys.readouterr()
    assert "Traceback" not in err
    errors = {line.split(": ", 2)[1].rsplit("/", 1)[-1]: line for line in err.splitlines() if line.startswith("error:")}
    inspected = {line.split("\t")[0].rsplit("/", 1)[-1] for line in out.splitlines()}
    for name, (_, expected) in files.items():
        if expected is None:
            assert name in inspected, name
        else:
            assert re.search(expected, errors[name]), (name, errors.get(name))
    rejected = sum(1 for _, e in files.values() if e)
    assert f"{len(files) - rejected} inspected, {rejected} rejected" in err
