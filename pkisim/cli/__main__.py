"""``python -m pkisim.cli``: the ``pkisim`` console script."""

import sys

from pkisim.cli import main

sys.exit(main())
