#!/usr/bin/env python
import os
import sys


def main() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    from integrations.management.entry import execute

    execute(sys.argv)


if __name__ == "__main__":
    main()
