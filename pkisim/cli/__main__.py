"""``python -m pkisim.cli``: the ``pkisim`` console script."""

from pkisim.cli import console

console()
