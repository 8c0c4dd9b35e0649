"""The thin Python layer Spark calls on the executors: the table schemas of ``schemas/``
(:mod:`udf.schemas`) and the ``mapInArrow`` functions around the engine's extension module
``replay_evm_native`` (:mod:`udf.replay`)."""
