"""`rehearse`: rehearse a marketing campaign before launch."""

from __future__ import annotations

import os
import signal
import sys
import threading
from contextlib import contextmanager
from typing import Iterator

import click
from rich.console import Console

from rehearse.cli.backend_cmd import backend
from rehearse.cli.calibrate_cmd import calibrate
from rehearse.cli.check_cmd import check
from rehearse.cli.drill_cmd import drill
from rehearse.cli.options import one_line
from rehearse.cli.report_cmd import report
from rehearse.cli.run_cmd import ci, run
from rehearse.cli.scenario_cmd import scenario
from rehearse.cli.simulate_cmd import simulate
from rehearse.cli.swarm_cmd import swarm
from rehearse.cli.target_cmd import target
from rehearse.cli.walkthrough_cmd import walkthrough
from rehearse.scenarios.errors import RehearseError

CONTEXT = {"help_option_names": ["-h", "--help"], "max_content_width": 100}


@click.group(context_settings=CONTEXT)
@click.version_option(package_name="rehearse")
def rehearse() -> None:
    """Rehearse a red-envelope, lottery or invite campaign before launch.

    A scenario (YAML) describes the campaign: phases, traffic, personas, link pool, budget,
    the backend's API contract and the launch gates. The bundled one is the year-end
    red-envelope game of the campaign brief.

    \b
    Start here:
      rehearse run                     # simulate, swarm, check, report: the whole rehearsal
      rehearse scenario validate scenarios/year_end_red_envelope.yaml
      rehearse scenario show
      rehearse backend                 # the reference campaign backend on 127.0.0.1:8700
      rehearse swarm --duration 60s    # personas against it, observations in runs/
      rehearse simulate                # the whole campaign in campaign time, in seconds
      rehearse check runs/FOLDER       # the launch gates on a run (exit 1 fail, 3 inconclusive)
      rehearse report runs/A runs/B    # the capacity report: HTML, Markdown, JUnit, JSON
      rehearse calibrate runs/R/peak   # a step load fitted: the predicted knee, a calibrated backend_model
      rehearse walkthrough             # each persona's journey, step by step, against the rules
      rehearse target check --host URL # a target mapping, request by request, with warnings
    """


rehearse.add_command(scenario)
rehearse.add_command(backend)
rehearse.add_command(swarm)
rehearse.add_command(simulate)
rehearse.add_command(check)
rehearse.add_command(report)
rehearse.add_command(calibrate)
rehearse.add_command(run)
rehearse.add_command(ci)
rehearse.add_command(walkthrough)
rehearse.add_command(drill)
rehearse.add_command(target)


def main(argv: list[str] | None = None) -> None:
    """Entry point: every error the user can fix becomes one line on stderr and its exit code
    (2 bad input, 1 a failed rehearsal, 130 interrupted); SIGTERM and SIGHUP stop a command the
    way Ctrl-C does, so what it started is stopped and what it measured is kept."""
    with _signals_as_interrupt():
        try:
            code = rehearse.main(args=argv, prog_name="rehearse", standalone_mode=False)
        except click.exceptions.NoArgsIsHelpError as exc:
            exc.show()
            sys.exit(exc.exit_code)
        except click.exceptions.UsageError as exc:
            where = f" (see {exc.ctx.command_path} --help)" if exc.ctx is not None else ""
            _one_line(f"{exc.format_message()}{where}", exc.exit_code)
        except click.exceptions.Abort:
            _interrupted()
        except click.ClickException as exc:
            exc.show()
            sys.exit(exc.exit_code)
        except RehearseError as exc:
            _one_line(str(exc), exc.exit_code)
        except KeyboardInterrupt:
            _interrupted()
        except OSError as exc:  # a path the checks at the edge could not foresee (a disk full, ...)
            if os.environ.get("REHEARSE_DEBUG"):
                raise
            what = f"{exc.filename}: " if exc.filename else ""
            _one_line(f"{what}{exc.strerror or exc}; check the path and its permissions", 2)
        except RecursionError:  # a scenario nested thousands of levels deep exhausts the YAML reader
            if os.environ.get("REHEARSE_DEBUG"):
                raise
            _one_line("a value nested too deeply to read (thousands of brackets or indented levels in the "
                      "scenario file?); flatten it", 2)
        except MemoryError:
            if os.environ.get("REHEARSE_DEBUG"):
                raise
            _one_line("not enough memory for this scenario: lower the participant counts "
                      "(traffic.participants_*) or the swarm's --users", 2)
    sys.exit(code if isinstance(code, int) else 0)


def _one_line(message: str, exit_code: int) -> None:
    text = one_line(message)
    Console(stderr=True, highlight=False, soft_wrap=True, emoji=False).print(
        f"rehearse: error: {text}", markup=False)
    sys.exit(exit_code)


def _interrupted() -> None:
    Console(stderr=True).print("rehearse: interrupted")
    sys.exit(130)


def _raise_interrupt(signum: int, _frame: object) -> None:
    raise KeyboardInterrupt(signal.Signals(signum).name)


@contextmanager
def _signals_as_interrupt() -> Iterator[None]:
    """SIGTERM and SIGHUP raise KeyboardInterrupt, as Ctrl-C does, while a command runs."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    saved = {sig: signal.signal(sig, _raise_interrupt) for sig in (signal.SIGTERM, signal.SIGHUP)}
    try:
        yield
    finally:
        for sig, handler in saved.items():
            signal.signal(sig, handler)


if __name__ == "__main__":
    main()
