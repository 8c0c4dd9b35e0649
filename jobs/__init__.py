"""Spark applications of ReplayEVM: ``replay_job.py``, the replay job."""
