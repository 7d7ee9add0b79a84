"""The review side: the review log (store), the queue, statistics, the active model set, batch runs.

store, queue and stats never import torch; active and batch reach the engine only when a sheet is inspected.
"""
