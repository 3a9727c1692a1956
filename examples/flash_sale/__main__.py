"""`python -m examples.flash_sale`: serve the Flash Sale backend (see cli.py)."""

from examples.flash_sale.cli import main

if __name__ == "__main__":
    raise SystemExit(main())
