"""Differential privacy for federated training, and the attacks that measure leakage.

Pure functions, no Ray: `clipping` (central user-level DP-FedAvg), `adaptive` (adaptive
clipping bound), `accounting` (epsilon by Opacus' accountants), `local` (sample-level DP-SGD
inside a client), `membership` (loss-threshold membership inference) and `inversion`
(gradient inversion). Import the module you need: importing this package loads neither
Opacus nor scipy.
"""
