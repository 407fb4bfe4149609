"""``python -m kehu.cli``: the same as the ``kehu`` command."""

from kehu.cli import main

if __name__ == "__main__":
    main()
