"""Importing interpclaims, and loading it as a pytest plugin, stays free of torch and friends."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import pytest

HEAVY = ("torch", "transformers", "transformer_lens", "nnsight")


def _clean_env(fake_torch_dir=None) -> dict[str, str]:
    env = dict(os.environ)
    env.pop("PYTEST_ADDOPTS", None)
    env.pop("PYTEST_PLUGINS", None)
    env.pop("PYTEST_DISABLE_PLUGIN_AUTOLOAD", None)
    env.pop("PYTHONPATH", None)
    if fake_torch_dir is not None:
        env["PYTHONPATH"] = str(fake_torch_dir)
    return env


def _fake_torch(tmp_path):
    """A folder with a stand-in ``torch`` module: proves the probes can see an import, cheaply."""
    folder = tmp_path / "fake"
    folder.mkdir()
    (folder / "torch.py").write_text("FAKE = True\n")
    return folder


def _loaded_after(statement: str, fake_torch_dir=None) -> dict[str, bool]:
    code = (
        f"import sys, json\n{statement}\n"
        f"print(json.dumps({{m: m in sys.modules for m in {list(HEAVY)!r}}}))"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=60, env=_clean_env(fake_torch_dir), check=False)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize(
    "statement",
    [
        "import interpclaims",
        "import interpclaims.plugin._hooks",
        "import interpclaims as ic; ic.parse_site('L1H2'); ic.load_data(['a b'])",
        "import interpclaims.report, interpclaims.models, interpclaims.backends",
    ],
)
def test_import_does_not_load_heavy_packages(statement):
    loaded = _loaded_after(statement)
    assert set(loaded) == set(HEAVY)
    assert not any(loaded.values()), {m for m, v in loaded.items() if v}


def test_the_import_probe_can_see_torch(tmp_path):
    """The probe is not blind: an import of (a stand-in) torch shows up."""
    loaded = _loaded_after("import interpclaims, torch; assert torch.FAKE", _fake_torch(tmp_path))
    assert loaded["torch"] is True


def _collect(tmp_path, *, conftest_import: str = "", fake_torch_dir=None):
    out = tmp_path / "probe.json"
    (tmp_path / "conftest.py").write_text(textwrap.dedent(f"""
        import json
        import sys
        {conftest_import}

        def pytest_sessionfinish(session, exitstatus):
            with open({str(out)!r}, "w") as f:
                json.dump({{
                    "torch": "torch" in sys.modules,
                    "heavy": sorted(m for m in {list(HEAVY)!r} if m in sys.modules),
                    "plugin": session.config.pluginmanager.hasplugin("interpclaims"),
                    "plugin_module": "interpclaims.plugin._hooks" in sys.modules,
                }}, f)
    """))
    (tmp_path / "test_trivial.py").write_text("def test_trivial():\n    assert 1 + 1 == 2\n")
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "--co", "-q", "-p", "no:cacheprovider", str(tmp_path)],
        cwd=tmp_path, capture_output=True, text=True, timeout=120,
        env=_clean_env(fake_torch_dir), check=False,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "test_trivial.py::test_trivial" in proc.stdout
    return json.loads(out.read_text())


def test_the_collection_probe_can_see_torch(tmp_path):
    fake = _fake_torch(tmp_path)
    probe = _collect(tmp_path, conftest_import="import torch", fake_torch_dir=fake)
    assert probe["torch"] is True
    assert probe["heavy"] == ["torch"]


def test_pytest_collection_with_the_plugin_does_not_load_torch(tmp_path):
    probe = _collect(tmp_path)
    assert probe["plugin"] is True, "the interpclaims plugin was not auto-loaded"
    assert probe["plugin_module"] is True
    assert probe["torch"] is False
    assert probe["heavy"] == []
    # collection of a file without claims leaves no report behind
    assert not (tmp_path / "reports").exists()
