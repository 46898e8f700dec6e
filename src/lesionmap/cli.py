"""Command line: ``python -m lesionmap build|simulate|check|study ...``.

Every error a user can cause (unknown cohort, bad parameter value, missing input) ends in one line that says
what to do, and a non-zero exit status.
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

import yaml

from lesionmap import logs
from lesionmap.config import (
    DEFAULT_BUILD_DIR,
    DEFAULT_COHORT,
    DEFAULT_SEED,
    LOCATION_CONFLICT_CHOICES,
    SIMULATED_COHORTS,
    UNKNOWN_LOCATION_CHOICES,
)

log = logging.getLogger(__name__)

#: The chapter parameter of each reader option on the command line.
READER_PARAMETERS = {
    "map": "sdtm_map",
    "evaluator": "evaluator",
    "unknown_location": "unknown_location",
    "location_conflicts": "location_conflicts",
}


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


def map_argument(value: str) -> str:
    """A site-map file (a copy of data/sdtm_map.yaml)."""
    path = Path(value)
    if not path.is_file():
        raise argparse.ArgumentTypeError(f"'{value}' is not a file (give a copy of data/sdtm_map.yaml)")
    return str(path.resolve())


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


def add_verbosity_options(parser: argparse.ArgumentParser, default=argparse.SUPPRESS) -> None:
    """``-v/--verbose`` (repeatable) and ``-q/--quiet``, accepted before or after the command's name."""
    noise = parser.add_mutually_exclusive_group()
    noise.add_argument("-v", "--verbose", action="count", default=default, help="more messages (-vv: debug)")
    noise.add_argument(
        "-q",
        "--quiet",
        action="store_true",
        default=default if default is argparse.SUPPRESS else False,
        help="warnings and errors only, no progress bars",
    )


def make_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m lesionmap",
        description="lesionmap: build the executable monograph of Zhou et al. (Nat Commun 2023), "
        "or write a simulated cohort as CDISC SDTM.",
    )
    add_verbosity_options(parser, default=0)
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    build = commands.add_parser(
        "build",
        help="execute the chapters with papermill (in _toc.yml order) and render the HTML book",
        description="Execute the chapters with papermill in _toc.yml order into _build/executed/, then render "
        "them with jupyter-book (strict: -W -n) into _build/book/_build/html/.",
    )
    build.add_argument(
        "--cohort",
        type=cohort_argument,
        default=[DEFAULT_COHORT],
        nargs="+",
        metavar="COHORT",
        help="mcrc (default: the simulated colorectal cohort), mhnscc (the simulated head-and-neck cohort), "
        "a folder of SDTM files, or several folders (or a folder of trial folders) to pool "
        "(see the book's appendix 'Bringing your own SDTM data')",
    )
    build.add_argument(
        "--n-patients",
        type=non_negative_int,
        default=0,
        help="patients to simulate (0 = the cohort spec's size: 4,308 for mcrc); e.g. 300 for a class",
    )
    build.add_argument("--seed", type=non_negative_int, default=DEFAULT_SEED, help="seed of every stochastic step")
    build.add_argument(
        "--chapters",
        nargs="+",
        metavar="CHAPTER",
        help="execute only these chapters (by file name, e.g. 02_growth, or number prefix, e.g. 02); "
        "the others keep their last executed version",
    )
    build.add_argument(
        "-p",
        "--parameter",
        nargs=2,
        action="append",
        metavar=("NAME", "VALUE"),
        help="a chapter parameter passed to papermill (repeatable); see the README's parameter table",
    )
    build.add_argument("--build-dir", default=DEFAULT_BUILD_DIR, help="output folder (default: _build)")
    build.add_argument("--no-html", action="store_true", help="execute the chapters but do not render HTML")
    build.add_argument(
        "--jobs",
        type=non_negative_int,
        default=0,
        help="chapters executed at the same time: a chapter starts once the chapters it reads are done, so "
        "independent chapters and the standalone appendices run side by side (default 0: one per available core)",
    )
    reader = build.add_argument_group(
        "SDTM reader",
        "how Chapter 1 reads the SDTM files (chapter parameters "
        "sdtm_map, evaluator, unknown_location, location_conflicts)",
    )
    reader.add_argument(
        "--map",
        type=map_argument,
        metavar="PATH",
        help="your copy of data/sdtm_map.yaml (sites, nodal organs, arms, qualifiers, tests)",
    )
    reader.add_argument(
        "--evaluator",
        metavar="NAME|accepted|all",
        help="whose TR/RS records to keep: a TREVAL value (blank TREVAL is INVESTIGATOR), 'accepted' "
        "(TRACPTFL = Y) or 'all' (default: the map's evaluator)",
    )
    reader.add_argument(
        "--unknown-location",
        choices=UNKNOWN_LOCATION_CHOICES,
        help="a location the map does not know: 'error' (default) or 'other' (filed under other, counted)",
    )
    reader.add_argument(
        "--location-conflicts",
        choices=LOCATION_CONFLICT_CHOICES,
        help="a lesion whose records give different locations: 'first' (default: the identification "
        "record's, counted) or 'error'",
    )

    simulate = commands.add_parser(
        "simulate",
        help="simulate a cohort and write it as CDISC SDTM (DM, SUPPDM, TU, TR, RS, ADTTE) plus its truth",
    )
    simulate.add_argument("cohort", choices=SIMULATED_COHORTS, help="which simulated cohort")
    simulate.add_argument("output", type=Path, help="folder to write the SDTM files into")
    simulate.add_argument("--n-patients", type=non_negative_int, default=0, help="0 = the spec's size")
    simulate.add_argument("--seed", type=non_negative_int, default=DEFAULT_SEED)
    simulate.add_argument("--format", choices=("xpt", "csv", "parquet"), default="xpt", help="file format")

    check = commands.add_parser(
        "check",
        help="open every page of the built book in headless Chromium with the network off, check that every "
        "chart draws and nothing loads from the network, and save a screenshot of each page",
    )
    check.add_argument("--build-dir", default=DEFAULT_BUILD_DIR, help="the build folder (default: _build)")
    check.add_argument(
        "--screenshots", type=Path, default=None, help="where the screenshots go (default: <build-dir>/screenshots)"
    )
    add_study_parser(commands)
    for command in (build, simulate, check):
        add_verbosity_options(command)
    return parser


def positive_int(value: str) -> int:
    number = non_negative_int(value)
    if number == 0:
        raise argparse.ArgumentTypeError(f"'{value}' must be 1 or more")
    return number


def add_study_parser(commands) -> None:
    """``study``: the replicate study of the whole pipeline on Dask (see ``lesionmap.study``)."""
    from lesionmap.study.replicate import STAGES

    study = commands.add_parser(
        "study",
        help="replicate study: run the pipeline on many simulated cohorts (one seed each) on Dask and "
        "summarise bias, RMSE and 95%% coverage against the truth",
        description="Each replicate simulates a cohort (seed = --seed + replicate number), writes and reads its "
        "SDTM, and runs the selected stages; finished replicates are kept in --out as Parquet, so a rerun "
        "resumes. Without --scheduler an embedded Dask cluster of --workers processes runs it (one worker: a thread of "
        "this process).",
    )
    study.add_argument("--replicates", type=positive_int, default=4, help="number of replicates (default 4)")
    study.add_argument(
        "--n-patients",
        type=positive_int,
        default=300,
        help="patients per simulated cohort (default 300; 4308 is the paper's scale)",
    )
    study.add_argument("--cohort", choices=SIMULATED_COHORTS, default="mcrc", help="which simulated cohort")
    study.add_argument(
        "--stages",
        nargs="+",
        choices=STAGES,
        default=list(STAGES),
        metavar="STAGE",
        help=f"stages to run ({', '.join(STAGES)}; a stage brings the ones it needs); default all",
    )
    study.add_argument("--seed", type=non_negative_int, default=DEFAULT_SEED, help="seed of the first replicate")
    study.add_argument("--out", type=Path, default=Path("_build/study"), help="output folder (default _build/study)")
    where = study.add_mutually_exclusive_group()
    where.add_argument(
        "--workers",
        type=positive_int,
        default=None,
        help="worker processes of the embedded cluster (default 2; one thread each; 1: a worker in this process)",
    )
    where.add_argument(
        "--scheduler",
        metavar="ADDRESS",
        help="address of a running Dask scheduler, e.g. tcp://10.0.0.5:8786 (see the README)",
    )
    study.add_argument(
        "--retries",
        type=non_negative_int,
        default=1,
        help="further attempts of a replicate that fails (default 1: a replicate fails after two)",
    )
    study.add_argument(
        "--saem-iterations",
        type=positive_int,
        nargs=2,
        default=None,
        metavar=("K1", "K2"),
        help="SAEM iterations (default: the book's 300 100)",
    )
    study.add_argument("--no-progress", action="store_true", help="no progress bar")


def build_cohort(values: list[str]):
    """The ``cohort`` parameter: one cohort or folder as text, several folders (pooled) as a list."""
    if len(values) > 1 and any(value in SIMULATED_COHORTS for value in values):
        raise UsageError("--cohort: several values pool folders of SDTM files; a simulated cohort stands alone")
    return values[0] if len(values) == 1 else list(values)


def run_build(args) -> int:
    from lesionmap.publish.runner import BuildOptions, build

    parameters = parse_parameters(args.parameter)
    for option, name in READER_PARAMETERS.items():
        if getattr(args, option) is not None:
            parameters[name] = getattr(args, option)
    options = BuildOptions(
        cohort=build_cohort(args.cohort),
        n_patients=args.n_patients,
        seed=args.seed,
        chapters=args.chapters,
        parameters=parameters,
        build_dir=Path(args.build_dir),
        html=not args.no_html,
        jobs=args.jobs,
    )
    build(options)
    return 0


def run_simulate(args) -> int:
    from lesionmap.cohort import load_spec, simulate, write_sdtm

    cohort = simulate(load_spec(args.cohort), n_patients=args.n_patients or None, seed=args.seed)
    write_sdtm(cohort, args.output, fmt=args.format)
    cohort.save_truth(args.output / "truth")
    log.info("wrote %s SDTM (%s analysed patients) to %s", args.cohort, f"{len(cohort.patients):,}", args.output)
    return 0


def run_check(args) -> int:
    from lesionmap.publish.browser import check_book

    html = Path(args.build_dir) / "book" / "_build" / "html"
    if not (html / "index.html").exists():
        raise UsageError(f"no built book in {html}: run 'python -m lesionmap build' first")
    screenshots = args.screenshots or Path(args.build_dir) / "screenshots"
    reports = check_book(html, screenshots=screenshots, executed_dir=Path(args.build_dir) / "executed")
    for report in reports:
        status = "ok" if report.ok else "FAILED"
        page = report.path.relative_to(html.resolve())
        print(
            f"{status:6} {page}: {report.charts_drawn}/{report.charts} charts drawn"
            + "".join(f"\n       {line}" for line in report.problems())
        )
    failed = sum(not r.ok for r in reports)
    charts = sum(r.charts for r in reports)
    print(f"{len(reports)} pages, {charts} charts, {failed} failed; screenshots in {screenshots}")
    return 1 if failed else 0


def run_study_command(args) -> int:
    from lesionmap.study import StudyDesign, StudyError, print_summary, run_study

    options = {"saem_iterations": tuple(args.saem_iterations)} if args.saem_iterations else {}
    try:
        design = StudyDesign(
            cohort=args.cohort,
            n_patients=args.n_patients,
            replicates=args.replicates,
            base_seed=args.seed,
            stages=tuple(args.stages),
            options=options,
        )
        result = run_study(
            design,
            args.out,
            workers=args.workers or 2,
            scheduler=args.scheduler,
            retries=args.retries,
            progress=False if args.no_progress else None,
        )
    except StudyError as error:
        raise UsageError(str(error)) from None
    except OSError as error:
        if args.scheduler is None:
            raise
        raise UsageError(f"cannot reach the Dask scheduler at {args.scheduler} ({error}): is it running?") from None
    print_summary(result)
    return 0


def main(argv: list[str] | None = None) -> int:
    from lesionmap.publish.runner import BuildError

    parser = make_parser()
    args = parser.parse_args(argv)
    logs.setup(-1 if args.quiet else args.verbose)
    try:
        if args.command == "build":
            return run_build(args)
        if args.command == "check":
            return run_check(args)
        if args.command == "study":
            return run_study_command(args)
        return run_simulate(args)
    except (BuildError, UsageError, FileNotFoundError) as error:
        print(f"lesionmap: error: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
