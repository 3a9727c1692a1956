"""`python -m rehearse`: the same as the `rehearse` command."""

from rehearse.cli.main import main

if __name__ == "__main__":
    main()
