from __future__ import annotations


def test_help_lists_examples(run_cli) -> None:  # type: ignore[no-untyped-def]
    proc = run_cli("--help")
    assert proc.returncode == 0
    assert "examples:" in proc.stdout
    assert "nodered-causal graph" in proc.stdout


def test_no_command_is_a_usage_error(run_cli) -> None:  # type: ignore[no-untyped-def]
    proc = run_cli()
    assert proc.returncode == 2


def test_unknown_command_is_a_usage_error(run_cli) -> None:  # type: ignore[no-untyped-def]
    proc = run_cli("no-such-command")
    assert proc.returncode == 2
    assert "invalid choice" in proc.stderr
