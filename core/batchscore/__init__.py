"""Score many images into one table (Parquet): in one process, or mapped over a Ray cluster with Ray Data."""
