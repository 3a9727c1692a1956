"""`python -m examples.lucky_bag`: serve the Lucky Bag backend (see cli.py)."""

from examples.lucky_bag.cli import main

if __name__ == "__main__":
    raise SystemExit(main())
