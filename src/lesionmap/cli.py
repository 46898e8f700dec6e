"""Command line: ``python -m lesionmap build|simulate|check ...``.

Every error a user can cause (unknown cohort, bad parameter value, missing input) ends in one line that says
what to do, and a non-zero exit status.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import yaml

SIMULATED_COHORTS = ("mcrc", "mhnscc")


class UsageError(ValueError):
    """A command-line value the user can fix."""


def cohort_argument(value: str) -> str:
    """A simulated cohort's name, or a folder that holds SDTM files."""
    if value in SIMULATED_COHORTS:
        return value
    path = Path(value)
    if path.is_dir():
        return str(path.resolve())
    raise argparse.ArgumentTypeError(
        f"'{value}' is neither a simulated cohort ({', '.join(SIMULATED_COHORTS)}) nor a folder of SDTM files"
    )


def non_negative_int(value: str) -> int:
    try:
        number = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"'{value}' is not a whole number") from None
    if number < 0:
        raise argparse.ArgumentTypeError(f"'{value}' must be 0 or more")
    return number


def parse_parameters(pairs: list[list[str]] | None) -> dict:
    """``-p name value`` pairs; values are read as YAML scalars (numbers, booleans, strings)."""
    parameters = {}
    for name, value in pairs or ():
        if not name.isidentifier():
            raise UsageError(f"parameter name '{name}' is not a Python identifier")
        parameters[name] = yaml.safe_load(value)
    return parameters


def make_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m lesionmap",
        description="lesionmap: build the executable monograph of Zhou et al. (Nat Commun 2023), "
        "or write a simulated cohort as CDISC SDTM.",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    build = commands.add_parser(
        "build",
        help="execute the chapters with papermill (in _toc.yml order) and render the HTML book",
        description="Execute the chapters with papermill in _toc.yml order into _build/executed/, then render "
        "them with jupyter-book (strict: -W -n) into _build/book/_build/html/.",
    )
    build.add_argument(
        "--cohort", type=cohort_argument, default="mcrc",
        help="mcrc (default: the simulated colorectal cohort), mhnscc (the simulated head-and-neck cohort), "
        "or a folder of SDTM files (see the book's appendix 'Bringing your own SDTM data')",
    )
    build.add_argument(
        "--n-patients", type=non_negative_int, default=0,
        help="patients to simulate (0 = the cohort spec's size: 4,308 for mcrc); e.g. 300 for a class",
    )
    build.add_argument("--seed", type=non_negative_int, default=20230417, help="seed of every stochastic step")
    build.add_argument(
        "--chapters", nargs="+", metavar="CHAPTER",
        help="execute only these chapters (by file name, e.g. 02_growth, or number prefix, e.g. 02); "
        "the others keep their last executed version",
    )
    build.add_argument(
        "-p", "--parameter", nargs=2, action="append", metavar=("NAME", "VALUE"),
        help="a chapter parameter passed to papermill (repeatable); see the README's parameter table",
    )
    build.add_argument("--build-dir", default="_build", help="output folder (default: _build)")
    build.add_argument("--no-html", action="store_true", help="execute the chapters but do not render HTML")

    simulate = commands.add_parser(
        "simulate",
        help="simulate a cohort and write it as CDISC SDTM (DM, SUPPDM, TU, TR, RS, ADTTE) plus its truth",
    )
    simulate.add_argument("cohort", choices=SIMULATED_COHORTS, help="which simulated cohort")
    simulate.add_argument("output", type=Path, help="folder to write the SDTM files into")
    simulate.add_argument("--n-patients", type=non_negative_int, default=0, help="0 = the spec's size")
    simulate.add_argument("--seed", type=non_negative_int, default=20230417)
    simulate.add_argument("--format", choices=("xpt", "csv", "parquet"), default="xpt", help="file format")

    check = commands.add_parser(
        "check",
        help="open every page of the built book in headless Chromium with the network off, check that every "
        "chart draws and nothing loads from the network, and save a screenshot of each page",
    )
    check.add_argument("--build-dir", default="_build", help="the build folder (default: _build)")
    check.add_argument("--screenshots", type=Path, default=None,
                       help="where the screenshots go (default: <build-dir>/screenshots)")
    return parser


def run_build(args) -> int:
    from lesionmap.runner import BuildOptions, build

    options = BuildOptions(
        cohort=args.cohort,
        n_patients=args.n_patients,
        seed=args.seed,
        chapters=args.chapters,
        parameters=parse_parameters(args.parameter),
        build_dir=Path(args.build_dir),
        html=not args.no_html,
    )
    build(options)
    return 0


def run_simulate(args) -> int:
    from lesionmap.cohort import load_spec, simulate, write_sdtm

    cohort = simulate(load_spec(args.cohort), n_patients=args.n_patients or None, seed=args.seed)
    write_sdtm(cohort, args.output, fmt=args.format)
    cohort.save_truth(args.output / "truth")
    print(f"wrote {args.cohort} SDTM ({len(cohort.patients):,} analysed patients) to {args.output}")
    return 0


def run_check(args) -> int:
    from lesionmap.browser import check_book

    html = Path(args.build_dir) / "book" / "_build" / "html"
    if not (html / "index.html").exists():
        raise UsageError(f"no built book in {html}: run 'python -m lesionmap build' first")
    screenshots = args.screenshots or Path(args.build_dir) / "screenshots"
    reports = check_book(html, screenshots=screenshots, executed_dir=Path(args.build_dir) / "executed")
    for report in reports:
        status = "ok" if report.ok else "FAILED"
        print(f"{status:6} {report.path.relative_to(html.resolve())}: {report.charts_drawn}/{report.charts} charts drawn"
              + "".join(f"\n       {line}" for line in report.problems()))
    failed = sum(not r.ok for r in reports)
    print(f"{len(reports)} pages, {sum(r.charts for r in reports)} charts, {failed} failed; screenshots in {screenshots}")
    return 1 if failed else 0


def main(argv: list[str] | None = None) -> int:
    from lesionmap.runner import BuildError

    parser = make_parser()
    args = parser.parse_args(argv)
    try:
        if args.command == "build":
            return run_build(args)
        if args.command == "check":
            return run_check(args)
        return run_simulate(args)
    except (BuildError, UsageError, FileNotFoundError) as error:
        print(f"lesionmap: error: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
