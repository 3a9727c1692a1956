"""`rehearse`: rehearse a marketing campaign before launch."""

from __future__ import annotations

import sys

import click
from rich.console import Console

from rehearse.cli.backend_cmd import backend
from rehearse.cli.check_cmd import check
from rehearse.cli.drill_cmd import drill
from rehearse.cli.report_cmd import report
from rehearse.cli.run_cmd import ci, run
from rehearse.cli.scenario_cmd import scenario
from rehearse.cli.simulate_cmd import simulate
from rehearse.cli.swarm_cmd import swarm
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
      rehearse check runs/FOLDER       # the launch gates on a run (exit 1 if any fails)
      rehearse report runs/A runs/B    # the capacity report: HTML, Markdown, JUnit, JSON
      rehearse walkthrough             # each persona's journey, step by step, against the rules
    """


rehearse.add_command(scenario)
rehearse.add_command(backend)
rehearse.add_command(swarm)
rehearse.add_command(simulate)
rehearse.add_command(check)
rehearse.add_command(report)
rehearse.add_command(run)
rehearse.add_command(ci)
rehearse.add_command(walkthrough)
rehearse.add_command(drill)


def main(argv: list[str] | None = None) -> None:
    """Entry point: RehearseError becomes one line on stderr and its exit code."""
    try:
        code = rehearse.main(args=argv, prog_name="rehearse", standalone_mode=False)
    except click.exceptions.Abort:
        Console(stderr=True).print("rehearse: interrupted")
        sys.exit(130)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except RehearseError as exc:
        Console(stderr=True, highlight=False, soft_wrap=True, emoji=False).print(
            f"rehearse: error: {exc}", markup=False)
        sys.exit(exc.exit_code)
    except KeyboardInterrupt:
        Console(stderr=True).print("rehearse: interrupted")
        sys.exit(130)
    sys.exit(code if isinstance(code, int) else 0)


if __name__ == "__main__":
    main()
