"""`python -m userservice_client.cli`: the same as the `userservice-client` console script."""

import sys

from userservice_client.cli.entrypoint import main

sys.exit(main())
