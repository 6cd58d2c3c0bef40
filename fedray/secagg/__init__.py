"""Secure aggregation without Ray: SecAgg (Bonawitz et al., CCS 2017) and SecAgg+ (Bell et al.,
CCS 2020), against a semi-honest server or (signed keys and survivor sets) a malicious one,
with X25519, HKDF, AES-GCM, AES-CTR and Ed25519.

encoding (floats <-> Z_{2^m}), prg (masks), shamir (t-of-n shares), decode (reconstruction
that checks every share and names a wrong one), keys (agreement and share encryption), pki
(identity keys and what they sign), graph (SecAgg+'s neighbours and its k, t), messages /
client / server (the records and the two halves of one instance), dishonest (a server that
really deviates), simulate (a whole run in one process).
"""
