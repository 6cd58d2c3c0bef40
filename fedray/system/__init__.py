"""System heterogeneity on a virtual clock: device profiles, availability, dropout,
deadlines, over-commitment (`clock`), and FedBuff's event schedule (`fedbuff`).

Pure numpy, no Ray; the engine asks it who trains before anything runs.
"""
