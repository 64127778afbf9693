"""``python -m hairfx``: the same as the ``hairfx`` console script."""

import sys

from .cli import main

sys.exit(main())
