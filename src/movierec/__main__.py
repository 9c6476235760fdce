"""``python -m movierec`` runs the CLI."""

from movierec.cli.main import main

main()
