"""The commands: each module's ``main`` is an installed console script (``deepcluster-train`` ...), runs as
``python -m deepcluster.cli.NAME`` / ``torchrun -m deepcluster.cli.NAME``, and backs the thin ``launch/`` scripts."""
