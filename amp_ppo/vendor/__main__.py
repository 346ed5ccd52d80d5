"""`python -m amp_ppo.vendor`: see the package docstring."""

import sys

from amp_ppo.vendor import cli

sys.exit(cli.main())
