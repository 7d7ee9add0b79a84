"""SteelScan's core. Never imports streamlit, and imports nothing heavy itself.

The packages, each one responsibility (README, section Layout):
contract (errors, settings, the Verdict), imaging, modelsets, engine, datasets, training, evaluation,
review (the review log and what reads it), accounts, cli. Import from the package you need: importing
``core`` or a torch-free package (contract, imaging, review.store, accounts) never loads torch.
"""
