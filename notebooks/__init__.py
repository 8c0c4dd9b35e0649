"""The notebooks and their headless runner (``notebooks/run.py``)."""
