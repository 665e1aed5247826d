"""The one rule for which torch build `make` and install.sh install (installer/torch_choice.py)."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
SCRIPT = REPO / "installer" / "torch_choice.py"

spec = importlib.util.spec_from_file_location("torch_choice", SCRIPT)
assert spec is not None
assert spec.loader is not None
tc = importlib.util.module_from_spec(spec)
sys.modules["torch_choice"] = tc  # dataclasses look their module up while the class is made
spec.loader.exec_module(tc)


def reachable(_: str) -> bool:
    return True


def unreachable(_: str) -> bool:
    return False


def test_a_linux_machine_without_an_nvidia_gpu_gets_the_cpu_only_build() -> None:
    choice = tc.choose(tc.Machine("linux", nvidia=False), {}, reachable)
    assert choice.build == "cpu"
    assert choice.pip_args == ["--extra-index-url", tc.CPU_INDEX]
    assert "no NVIDIA GPU" in choice.reason


def test_an_nvidia_gpu_gets_the_cuda_build() -> None:
    linux = tc.choose(tc.Machine("linux", nvidia=True), {}, reachable)
    assert (linux.build, linux.pip_args) == ("cuda", [])  # PyPI's Linux wheels are CUDA builds
    windows = tc.choose(tc.Machine("win32", nvidia=True), {}, reachable)
    assert windows.build == "cuda"
    assert windows.pip_args == ["--extra-index-url", tc.CUDA_INDEX]


def test_macos_gets_the_default_build() -> None:
    choice = tc.choose(tc.Machine("darwin", nvidia=False), {}, reachable)
    assert (choice.build, choice.pip_args) == ("default", [])
    assert "MPS" in choice.reason


@pytest.mark.parametrize(("wanted", "build", "args"), [
    ("cpu", "cpu", ["--extra-index-url", "https://download.pytorch.org/whl/cpu"]),
    ("cuda", "cuda", []),
    ("default", "default", []),
    ("CPU", "cpu", ["--extra-index-url", "https://download.pytorch.org/whl/cpu"]),
])
def test_the_variable_overrides_the_rule(wanted: str, build: str, args: list[str]) -> None:
    choice = tc.choose(tc.Machine("linux", nvidia=True), {"PHOTOCLIP_TORCH": wanted}, reachable)
    assert (choice.build, choice.pip_args) == (build, args)


def test_an_index_of_your_own_wins_and_empty_means_your_pip_configuration() -> None:
    machine = tc.Machine("linux", nvidia=False)
    own = tc.choose(machine, {"TORCH_INDEX_URL": "https://mirror.example/torch"}, reachable)
    assert own.pip_args == ["--extra-index-url", "https://mirror.example/torch"]
    assert tc.choose(machine, {"TORCH_INDEX_URL": ""}, reachable).pip_args == []


def test_an_unreachable_cpu_index_falls_back_to_the_default_and_says_so() -> None:
    choice = tc.choose(tc.Machine("linux", nvidia=False), {}, unreachable)
    assert choice.pip_args == []
    assert "cannot be reached" in choice.reason
    assert "TORCH_INDEX_URL" in choice.reason  # ... and how to avoid the CUDA download


def test_a_misspelt_choice_is_refused() -> None:
    with pytest.raises(ValueError, match="cpu, cuda, default"):
        tc.choose(tc.Machine("linux", nvidia=False), {"PHOTOCLIP_TORCH": "gpu"}, reachable)
    run = subprocess.run([sys.executable, str(SCRIPT)], env={"PHOTOCLIP_TORCH": "gpu"},
                         capture_output=True, text=True, check=False)
    assert run.returncode == 2
    assert run.stdout == ""
    assert "PHOTOCLIP_TORCH='gpu'" in run.stderr


def test_nvidia_is_detected_by_its_tool_or_its_driver(tmp_path: Path) -> None:
    missing = tmp_path / "no-driver"
    assert not tc.has_nvidia_gpu(lambda _: None, missing)
    assert tc.has_nvidia_gpu(lambda name: f"/usr/bin/{name}", missing)
    driver = tmp_path / "nvidia"
    driver.mkdir()
    assert tc.has_nvidia_gpu(lambda _: None, driver)


def test_the_script_prints_only_pip_arguments_on_stdout() -> None:
    run = subprocess.run([sys.executable, str(SCRIPT)], capture_output=True, text=True,
                         env={"PHOTOCLIP_TORCH": "default", "PATH": ""}, check=True)
    assert run.stdout == ""
    assert run.stderr.startswith("torch: PHOTOCLIP_TORCH=default")


def test_the_makefile_and_install_sh_share_the_rule() -> None:
    makefile = (REPO / "Makefile").read_text()
    install = (REPO / "installer" / "linux" / "install.sh").read_text()
    assert "installer/torch_choice.py" in makefile
    assert "installer/torch_choice.py" in install
    assert "download.pytorch.org" not in makefile + install  # the URL lives in the rule only


@pytest.mark.skipif(not tc.reachable(tc.CPU_INDEX), reason="PyTorch's CPU index is not "
                    "reachable from this machine (a closed network)")
def test_the_cpu_choice_resolves_no_cuda_libraries(tmp_path: Path) -> None:
    report = tmp_path / "report.json"
    subprocess.run([sys.executable, "-m", "pip", "install", "--dry-run", "--ignore-installed",
                    "--quiet", "--report", str(report), "torch==2.13.0",
                    "--extra-index-url", tc.CPU_INDEX], check=True, timeout=600)
    names = [i["metadata"]["name"].lower() for i in json.loads(report.read_text())["install"]]
    assert "torch" in names
    assert not [n for n in names if n.startswith(("nvidia-", "triton"))], names
