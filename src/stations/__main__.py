"""Allow ``python -m stations``."""

from stations.cli import main

main()
