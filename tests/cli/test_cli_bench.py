from __future__ import annotations

import json

import numpy as np
import pytest

from photoclip.bench import clip_like_vectors, cpu_hog, headline, make_photos, time_queries
from photoclip.cli import main
from photoclip.core.imaging import decode

CONTRACT_KEYS = {
    "device", "model", "model_only_images_per_s", "decode_images_per_s_per_core",
    "pipeline_images_per_s", "pipeline_efficiency", "pipeline_vs_model", "fast_path",
    "fast_path_vs_fp32", "fast_path_cosine", "text_query_p95_ms", "ann_p95_ms",
    "ann_recall_at_10", "vectors", "text_query_p95_beside_cpu_load_ms",
    "text_query_p95_while_indexing_ms", "cold_query_torch_s", "cold_query_onnx_s",
    "cold_import_s", "cold_query_torch_vs_onnx", "cold_query_onnx_vs_import",
}


@pytest.mark.slow
def test_bench_runs_end_to_end_and_emits_the_contract(capsys, tiny_clip_dir, monkeypatch):
    monkeypatch.delenv("PHOTOCLIP_TEXT_ONNX")  # the cold-query figures compare torch and ONNX
    code = main(["bench", "--model", str(tiny_clip_dir), "--photos", "6", "--vectors", "3000",
                 "--queries", "20", "--batch-size", "4", "--json"])
    out, err = capsys.readouterr()
    assert code == 0, err
    r = json.loads(out)
    assert set(r) >= CONTRACT_KEYS
    assert r["device"] == "cpu"
    assert r["vectors"] == 3000
    assert r["fast_path"] in {"fp32", "bf16", "int8"}
    if r["fast_path"] != "fp32":
        assert r["fast_path_cosine"] >= 0.99
        assert r["fast_path_vs_fp32"] > 1.0
    for key in ("model_only_images_per_s", "decode_images_per_s_per_core",
                "pipeline_images_per_s", "pipeline_efficiency", "ann_p95_ms",
                "text_query_p95_ms"):
        assert r[key] > 0, key
    # the pipeline cannot beat what model and decode allow together by much
    assert r["pipeline_images_per_s"] <= r["model_only_images_per_s"] * 1.5
    assert 0.5 <= r["ann_recall_at_10"] <= 1.0
    assert r["text_query_p95_beside_cpu_load_ms"] > 0
    assert r["text_queries_while_indexing"] >= 0
    # the cold query: real `photoclip search` runs, torch only and through the ONNX export
    assert r["cold_query_onnx_exported"] is True
    assert r["cold_query_runs"] == 3
    for key in ("cold_query_torch_s", "cold_query_onnx_s", "cold_import_s"):
        assert r[key] > 0, key
    assert r["cold_query_torch_vs_onnx"] == pytest.approx(
        r["cold_query_torch_s"] / r["cold_query_onnx_s"], rel=0.02)
    # three interleaved rounds; the headline efficiency is their median
    per_round = sorted(x["pipeline_efficiency"] for x in r["pipeline_rounds"])
    assert len(per_round) == 3
    assert r["pipeline_efficiency"] == per_round[1]
    # and the headline rates are that same round's (issue 23 item 6)
    chosen = r["pipeline_rounds"][r["pipeline_headline_round"]]
    assert chosen["pipeline_efficiency"] == r["pipeline_efficiency"]
    for key in ("pipeline_images_per_s", "ideal_images_per_s", "model_only_images_per_s",
                "decode_images_per_s_per_core"):
        assert r[key] == chosen[key], key


def _round(model: float, decode: float, pipeline: float, ideal: float) -> dict[str, float]:
    return {"model_only_images_per_s": model, "decode_images_per_s_per_core": decode,
            "pipeline_images_per_s": pipeline, "ideal_images_per_s": ideal,
            "pipeline_efficiency": round(pipeline / ideal, 3)}


@pytest.mark.parametrize("rounds", [
    # a machine that sped up between rounds: each key's own median mixes rounds 0, 1 and 2
    [_round(10, 5, 9, 10), _round(30, 2, 12, 20), _round(20, 9, 30, 25)],
    [_round(40, 6, 8, 20), _round(20, 6, 10, 10)],  # an even count: the lower middle round
    [_round(12, 3, 11, 10)],
])
def test_headline_figures_all_come_from_the_median_efficiency_round(rounds):
    figures = headline(rounds)
    chosen = rounds[figures["pipeline_headline_round"]]
    efficiencies = sorted(x["pipeline_efficiency"] for x in rounds)
    assert figures["pipeline_efficiency"] == efficiencies[(len(rounds) - 1) // 2]
    for key in chosen:
        assert figures[key] == chosen[key], key
    # what a reader checks: the headline rate over the headline ideal is the efficiency
    assert figures["pipeline_images_per_s"] / figures["ideal_images_per_s"] == pytest.approx(
        figures["pipeline_efficiency"], abs=1e-3)
    assert figures["pipeline_vs_model"] == round(
        chosen["pipeline_images_per_s"] / chosen["model_only_images_per_s"], 3)


def test_the_cpu_hog_is_stopped_by_bench_and_stops_by_itself():
    with cpu_hog() as hog:
        assert hog.poll() is None  # running beside us
    assert hog.poll() is not None  # gone once the block is left
    with cpu_hog(seconds=0.3) as hog:
        hog.wait(timeout=30)  # bounded in time even if bench never stopped it
        assert hog.returncode == 0


def test_each_latency_pass_asks_queries_not_asked_before():
    """A repeated query is answered from the searcher's cache of query vectors: the passes
    beside a CPU hog and while indexing must encode text like the quiet pass does."""
    asked: list[str] = []

    class Recorder:
        def search(self, text: str, top: int) -> list[int]:
            asked.append(text)
            return [1]

    passes = [time_queries(Recorder(), 5, words) for words in ("", "busy", "indexing")]
    assert [len(p) for p in passes] == [5, 5, 5]
    assert len(set(asked)) == 15
    assert time_queries(Recorder(), 5, "stop", keep_going=lambda: False) == []


def test_generated_photos_are_12mp_jpegs_that_draft_decode(tmp_path):
    paths = make_photos(tmp_path, 2)
    assert len({p.read_bytes() for p in paths}) == 2  # every file differs
    d = decode(paths[0], 256)
    assert (d.width, d.height) == (4000, 3000)
    assert min(d.image.size) < 1000  # DCT-scaled, not fully decoded


def test_synthetic_vectors_are_clustered_unit_vectors():
    data, queries = clip_like_vectors(4000, 64)
    np.testing.assert_allclose(np.linalg.norm(data, axis=1), 1.0, rtol=1e-5)
    assert queries.shape[1] == 64
    # clustered: a vector's nearest neighbour is far closer than a random other vector
    sims = data[:200] @ data.T
    np.fill_diagonal(sims[:, :200], -1)
    nearest = sims.max(axis=1).mean()
    typical = np.median(sims)
    assert nearest > typical + 0.3


GUI_KEYS = {
    "open_to_first_paint_ms", "ui_worst_stall_ms", "browse_stall_ms", "filter_folder_stall_ms",
    "filter_date_stall_ms", "typing_stall_ms", "watcher_batch_stall_ms", "model_load_stall_ms",
    "scroll_to_end_stall_ms", "peak_rss_mb",
}


@pytest.mark.slow
def test_bench_gui_drives_the_window_with_the_catalog_off_the_ui_thread(capsys, monkeypatch):
    """A small `bench --gui`: every action is reported, and browsing (opening, clearing the
    search, each filter, the watcher batch) reads the catalog on a worker, never the UI."""
    import threading

    from photoclip.core.library import Library

    threads: list[int] = []
    real = Library.browse

    def spy(self, *a, **kw):
        threads.append(threading.get_ident())
        return real(self, *a, **kw)

    monkeypatch.setattr(Library, "browse", spy)
    code = main(["bench", "--gui", "--photos", "3000", "--json"])
    out, err = capsys.readouterr()
    assert code == 0, err
    r = json.loads(out)
    assert set(r) >= GUI_KEYS
    assert r["photos"] == 3000
    assert r["switch_interval_ms"] == 1.0  # the window's processes let the UI thread in sooner
    assert r["watcher_batch_shown"]  # the 500 new photos reached the grid
    assert r["rows_at_end"] == 3500  # scrolling to the end reached it
    assert r["search_found"] >= 1
    assert len(threads) >= 6  # open, browse, folder (and back), date (and back), batch...
    assert threading.get_ident() not in threads


def test_bench_gui_loads_a_named_model_for_real_in_a_worker(capsys, monkeypatch, tiny_clip_dir):
    """`bench --gui --model DIR`: the model-load stall is that of a real load (torch and the
    weights in a worker, as the window loads its model), and the report says which it was."""
    import threading

    from photoclip.core.encoder.clip import ClipEncoder

    threads: list[int] = []
    real = ClipEncoder.load

    def spy(self):
        threads.append(threading.get_ident())
        return real(self)

    monkeypatch.setattr(ClipEncoder, "load", spy)
    code = main(["bench", "--gui", "--photos", "600", "--model", str(tiny_clip_dir), "--json"])
    out, err = capsys.readouterr()
    assert code == 0, err
    r = json.loads(out)
    assert r["model_load"].startswith(f"real: {tiny_clip_dir}")
    assert r["model_load_stall_ms"] >= 0
    assert threads
    assert threading.get_ident() not in threads
