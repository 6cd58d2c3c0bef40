"""Secure aggregation without Ray: SecAgg (Bonawitz et al., CCS 2017) and SecAgg+ (Bell et al.,
CCS 2020) against a semi-honest server, with X25519, HKDF, AES-GCM and AES-CTR.

encoding (floats <-> Z_{2^m}), prg (masks), shamir (t-of-n shares), decode (reconstruction that
checks every share and names a wrong one), keys (agreement and
share encryption), graph (SecAgg+'s neighbours and its k, t), messages / client / server
(the records and the two halves of one instance), simulate (a whole run in one process).
"""
