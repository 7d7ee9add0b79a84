"""Model sets: cards and hash-checked weight files, the networks they build, input scaling, devices."""
