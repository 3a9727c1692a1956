"""rehearse: rehearse a marketing campaign before launch.

The distribution installs this one top-level name. The parts live in the repository's top-level
folders, as the project's users asked, and import as `rehearse.<part>`:

    rehearse.scenarios          the scenario schema, loader and the bundled campaigns
    rehearse.personas           the step protocol, the personas, synthetic identities
    rehearse.simulator          the SimPy campaign model
    rehearse.client             the target contract client the engines share
    rehearse.swarm              the Locust swarm
    rehearse.walkthrough        one journey at a time, narrated against the campaign's rules
    rehearse.observations       the run folder every engine writes
    rehearse.judging            the gates and the judge: verdicts with evidence
    rehearse.reports            the capacity report: the judgement rendered
    rehearse.rehearsal          the main job as data: its phases, playing them, the journal
    rehearse.testing            the pytest plugin that runs a rehearsal from a QA suite
    rehearse.reference_backend  the bundled sample campaign backend
    rehearse.cli                the `rehearse` command
"""
