"""Training from the review log: sheets' parts, jobs in their own process, the gate, lineage, replay."""
