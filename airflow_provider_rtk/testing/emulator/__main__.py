"""``python -m airflow_provider_rtk.testing.emulator``: same as the ``rtk-emulator`` console script."""

import sys

from airflow_provider_rtk.testing.emulator.cli import main

sys.exit(main())
