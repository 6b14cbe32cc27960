"""The provider's core, below the hook: the wire, the connection, errors, retries, pacing, waiting, the
idempotent start, validation, redaction and Airflow-version shims. Nothing here knows Airflow task
concepts (operators, sensors, triggers); everything above imports from here, never the reverse.
"""
