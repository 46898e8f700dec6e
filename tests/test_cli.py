"""The command line: documented commands, one-line errors with a non-zero exit status."""

import logging
import subprocess
import sys

import pytest

from lesionmap.cli import UsageError, main, make_parser, parse_parameters


def run(*args):
    return subprocess.run([sys.executable, "-m", "lesionmap", *args], capture_output=True, text=True)


def test_help_documents_every_command():
    result = run("--help")
    assert result.returncode == 0
    assert "build" in result.stdout and "simulate" in result.stdout
    build_help = run("build", "--help").stdout
    for option in ("--cohort", "--n-patients", "--seed", "--chapters", "--parameter", "--jobs", "--verbose", "--quiet"):
        assert option in build_help


def test_unknown_cohort_is_a_one_line_error():
    result = run("build", "--cohort", "no-such-cohort")
    assert result.returncode != 0
    last = result.stderr.strip().splitlines()[-1]
    assert "no-such-cohort" in last and "mcrc" in last


def test_bad_number_is_a_one_line_error():
    result = run("build", "--n-patients", "-5")
    assert result.returncode != 0
    assert "must be 0 or more" in result.stderr


def test_unknown_chapter_and_parameter(capsys):
    assert main(["build", "--chapters", "99_nothing", "--no-html", "--build-dir", "_build/cli-test"]) == 2
    assert "unknown chapter '99_nothing'" in capsys.readouterr().err
    assert main(["build", "-p", "no_such_param", "1", "--no-html", "--build-dir", "_build/cli-test"]) == 2
    assert "unknown parameter(s) no_such_param" in capsys.readouterr().err


def test_parameters_are_read_as_yaml_scalars():
    assert parse_parameters([["k", "5"], ["flag", "true"], ["name", "abc"]]) == {"k": 5, "flag": True, "name": "abc"}
    with pytest.raises(UsageError):
        parse_parameters([["not a name", "1"]])


def test_check_without_a_built_book_says_what_to_do(tmp_path, capsys):
    assert main(["check", "--build-dir", str(tmp_path)]) == 2
    assert "run 'python -m lesionmap build' first" in capsys.readouterr().err


@pytest.mark.parametrize(
    "argv, level",
    [
        (["check"], logging.INFO),
        (["-v", "check"], logging.DEBUG),
        (["check", "-q"], logging.WARNING),
        (["-q", "check"], logging.WARNING),
    ],
)
def test_verbosity_options_set_the_log_level(argv, level, tmp_path):
    main([*argv, "--build-dir", str(tmp_path)])
    assert logging.getLogger("lesionmap").level == level


def test_verbose_and_quiet_exclude_each_other(capsys):
    with pytest.raises(SystemExit):
        make_parser().parse_args(["build", "-v", "-q"])
    assert "not allowed with" in capsys.readouterr().err
