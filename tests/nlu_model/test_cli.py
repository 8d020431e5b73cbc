from __future__ import annotations

import argparse
import json
from pathlib import Path

from nlu_model import cli


def _parse(add_arguments, argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    return parser.parse_args(argv)


def test_train_flags_and_defaults() -> None:
    args = _parse(cli.add_train_arguments, [])
    assert (args.data, args.out, args.config) == (Path("dialogues"), Path("models/default"), "default")
    assert (args.nlu_only, args.threads, args.seed, args.init_from) == (False, None, 0, None)
    args = _parse(cli.add_train_arguments, ["--data", "x.yml", "--out", "m", "--config", "tiny", "--nlu-only",
                                            "--threads", "2", "--seed", "3", "--init-from", "old"])
    assert (args.config, args.nlu_only, args.threads, args.seed, args.init_from) == ("tiny", True, 2, 3, Path("old"))


def test_kefu_train_writes_a_model_folder(datasets: Path, tmp_path: Path, capsys) -> None:
    args = _parse(cli.add_train_arguments, ["--data", str(datasets / "rasa-moodbot-init"), "--out", str(tmp_path / "m"),
                                            "--config", "tiny", "--threads", "1"])
    assert cli.run_train(args) == 0
    assert (tmp_path / "m" / "model.safetensors").is_file()
    assert "Trained model" in capsys.readouterr().out


def test_kefu_train_reports_bad_data_without_traceback(tmp_path: Path, capsys) -> None:
    bad = tmp_path / "nlu.yml"
    bad.write_text("nlu:\n- intent: greet\n")
    args = _parse(cli.add_train_arguments, ["--data", str(bad), "--out", str(tmp_path / "m"), "--config", "tiny"])
    assert cli.run_train(args) == 2
    assert "missing `examples`" in capsys.readouterr().err


def test_kefu_eval_writes_json_with_scores_latency_and_out_of_scope(trained_model: tuple[Path, dict], tmp_path: Path) -> None:
    test_file = tmp_path / "test.yml"
    test_file.write_text(
        'version: "3.1"\nnlu:\n'
        "- intent: greet\n  examples: |\n    - hi there\n    - hello\n    - hey bot\n"
        "- intent: track_order\n  examples: |\n    - where is my order [12345](order_id)\n    - track my parcel\n"
        "- intent: out_of_scope\n  examples: |\n    - what is the capital of peru\n    - sing me a song about whales\n",
        encoding="utf-8",
    )
    report_path = tmp_path / "reports" / "eval.json"
    args = _parse(cli.add_eval_arguments, ["--model", str(trained_model[0]), "--data", str(test_file),
                                           "--report", str(report_path), "--threads", "1"])
    assert cli.run_eval(args) == 0
    report = json.loads(report_path.read_text())
    for key in ("accuracy", "macro_f1", "per_intent", "confused_pairs", "in_scope_accuracy", "oos_recall", "oos_precision"):
        assert key in report, key
    assert report["examples"] == 7
    assert 0 < report["latency_ms"]["p50"] <= report["latency_ms"]["p99"]
    # out_of_scope is no intent of the model, so its examples can only be caught by the fallback.
    assert report["per_intent"]["out_of_scope"]["recall"] == 0.0
    assert report["entities"]["per_type"]["order_id"]["support"] == 1
    assert report["per_intent"]["greet"]["recall"] == 1.0
    png = report_path.with_suffix(".png")
    assert report["confusion_matrix_png"] == str(png)
    assert png.read_bytes().startswith(b"\x89PNG")


def test_kefu_eval_refuses_a_folder_that_is_no_model(tmp_path: Path, capsys) -> None:
    args = _parse(cli.add_eval_arguments, ["--model", str(tmp_path), "--data", str(tmp_path)])
    assert cli.run_eval(args) == 2
    assert "not a Kefu model folder" in capsys.readouterr().err


def test_kefu_eval_generation_prints_the_benchmark_keys(tiny_generating_model: Path, tiny_project: Path,
                                                         tmp_path: Path, capsys) -> None:
    report = tmp_path / "generation.json"
    args = _parse(cli.add_eval_arguments, ["--model", str(tiny_generating_model), "--generation", "--project",
                                           str(tiny_project), "--limit", "3", "--threads", "1", "--report", str(report)])
    assert cli.run_eval(args) == 0
    result = json.loads(report.read_text())
    for key in ("rouge_l", "retrieval_rouge_l", "intent_consistency_shipped", "ungrounded_before_guard",
                "ungrounded_shipped", "fallback_rate", "first_token_ms", "answer_150_tokens_ms", "rouge_l_with_knowledge",
                "knowledge_covered_pairs", "knowledge_use_rate", "knowledge_use_rate_shipped"):
        assert key in result, key
    assert result["held_out_pairs"] == 3
    assert "rouge_l" in capsys.readouterr().out


def test_kefu_eval_needs_data_unless_generation(tmp_path: Path, capsys) -> None:
    args = _parse(cli.add_eval_arguments, ["--model", str(tmp_path)])
    assert cli.run_eval(args) == 2
    assert "--data is required" in capsys.readouterr().err
