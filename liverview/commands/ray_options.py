"""The Ray options shared by the commands that run one task per study (`scan`, `harvest-round`)."""

from __future__ import annotations

import argparse


def add_ray_options(parser: argparse.ArgumentParser) -> None:
    """--workers, --address and --gpus-per-task, read by liverview.scan.cluster."""
    parser.add_argument("--workers", type=int, default=None, metavar="N",
                        help="studies at a time on Ray: the CPUs of the embedded Ray (default: this machine's CPU "
                             "count); with --address, a cap on what the cluster runs at once (default: no cap)")
    parser.add_argument("--address", default=None, metavar="auto|HOST:PORT",
                        help="join a running Ray cluster (`ray start --head` prints its address; 'auto': the one "
                             "on this machine) instead of starting Ray in this process")
    parser.add_argument("--gpus-per-task", type=float, default=1.0, metavar="F",
                        help="GPUs each study's task asks Ray for when it runs on CUDA (default 1; 0.5 lets two "
                             "tasks share a GPU)")
