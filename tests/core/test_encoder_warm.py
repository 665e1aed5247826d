"""The first model load of a process keeps the collector off, then freezes what it made; torch's
libraries are mapped ahead without the interpreter lock, and torch still imports and runs."""

from __future__ import annotations

import gc
import subprocess
import sys
import textwrap

import pytest

from photoclip.core.encoder import warm


def test_the_collector_is_off_during_a_first_load_and_back_after(monkeypatch):
    monkeypatch.delitem(sys.modules, "torch", raising=False)  # as before any load
    monkeypatch.setattr(warm, "preload_torch_libraries", lambda: [])
    assert gc.isenabled()
    frozen = gc.get_freeze_count()
    try:
        with warm.heavy_loading():
            assert not gc.isenabled()
            with warm.heavy_loading():  # a second load at the same time
                assert not gc.isenabled()
            assert not gc.isenabled()  # back only after the last one
        assert gc.isenabled()
        assert gc.get_freeze_count() > frozen  # what the load made is never rescanned
    finally:
        gc.unfreeze()


def test_a_failed_load_turns_the_collector_back_on(monkeypatch):
    monkeypatch.delitem(sys.modules, "torch", raising=False)
    monkeypatch.setattr(warm, "preload_torch_libraries", lambda: [])
    try:
        with pytest.raises(RuntimeError), warm.heavy_loading():
            raise RuntimeError("the weights are broken")
        assert gc.isenabled()
    finally:
        gc.unfreeze()


def test_once_torch_is_in_a_load_leaves_the_collector_alone(monkeypatch):
    import torch  # noqa: F401

    with warm.heavy_loading():
        assert gc.isenabled()


@pytest.mark.skipif(sys.platform != "linux", reason="the libraries are mapped ahead on Linux")
def test_torch_libraries_are_mapped_ahead_and_torch_then_works():
    code = textwrap.dedent("""
        import sys
        from photoclip.core.encoder.warm import preload_torch_libraries
        mapped = preload_torch_libraries()
        maps = open("/proc/self/maps").read()
        assert "torch" not in sys.modules
        assert "libtorch_cpu.so" in mapped and "libtorch_cpu.so" in maps, mapped
        import torch
        print(int(torch.arange(4).sum()), preload_torch_libraries())
    """)
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=300)
    assert run.returncode == 0, run.stderr
    assert run.stdout.split() == ["6", "[]"]  # and nothing mapped once torch is in
