"""Test utilities for DAGs that use the RealtimeKit provider.

- :mod:`~airflow_provider_rtk.testing.emulator`: an offline emulator of the recording API (like moto);
- :mod:`~airflow_provider_rtk.testing.pytest_plugin`: pytest fixtures (an emulator per test, a throwaway
  Airflow home, ``realtimekit_run_dag``), registered by the provider's ``pytest11`` entry point;
- :mod:`~airflow_provider_rtk.testing.dags`: run any DAG file with ``dag.test()`` (asset-triggered runs
  included) and get each task's state, XCom and error, without pytest.

Importing this package imports nothing else.
"""

__all__: list[str] = []
